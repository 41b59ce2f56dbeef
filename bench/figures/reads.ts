/**
 * Figure 1: DynamoDB reads per message sent into one room, in two setups:
 * rooms that are everyone online (at several sizes; the baseline's table
 * holds only that room), and one room among many full ones (the same
 * population in both designs). Both sides run their real send path (Parley's
 * `perform`, with the container memory the chat handler keeps; the baseline's
 * `sendmessage` handler) against DynamoDB Local through a client whose every
 * call is metered (see capacity.ts); posts go to a sink.
 *
 * Each setup gets fresh tables and a fresh chat container (a new cache), so
 * the first send into each room is counted apart from the later ones: a
 * container that holds a room's recipients at the membership version its seq
 * reservation returns skips the recipients Query.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ContainerCache } from '../../amplify/core/cache';
import { perform } from '../../amplify/core/chat';
import { expiresAtFrom, registerConnection } from '../../amplify/core/connections';
import { managementClient, managementNotifier, type ChatDeps } from '../../amplify/core/deps';
import { forEachLimit } from '../../amplify/core/fanout';
import { keys } from '../../amplify/core/keys';
import { parseAction } from '../../amplify/core/protocol';
import { LocalAdmission } from '../../amplify/core/ratelimit';
import { ensureRoom } from '../../amplify/core/rooms';
import { CHAT_TABLE, CONNECTIONS_TABLE } from '../../amplify/realtime/tables';
import { createTable, dynamoClient } from '../../local/dynamodb';
import { createBaselineHandlers } from '../baseline/handlers';
import { createBaselineTable } from '../baseline/table';
import { CapacityMeter, type Call } from '../capacity';
import { progress, type Sizes } from '../env';
import type { Figure, Row } from '../report';
import { startSink } from '../sink';
import { median, round } from '../stats';

interface Totals {
  fanoutItems: number;
  fanoutRcu: number;
  readItems: number;
  rcu: number;
  wcu: number;
  calls: number;
  /** Wall time of the whole send path, posts to the sink included. */
  handlerMs: number;
  /** Posts to the sink: Parley's ack and the other members; the baseline's every connection it read. */
  posts: number;
}

function totals(calls: Call[], fanoutCommand: string, posts: number, handlerMs: number): Totals {
  const sum = (cs: Call[], f: (c: Call) => number) => cs.reduce((s, c) => s + f(c), 0);
  const fanout = calls.filter((c) => c.command === fanoutCommand);
  const reads = calls.filter((c) => c.read);
  return {
    fanoutItems: sum(fanout, (c) => c.itemsRead),
    fanoutRcu: sum(fanout, (c) => c.capacityUnits),
    readItems: sum(reads, (c) => c.itemsRead),
    rcu: sum(reads, (c) => c.capacityUnits),
    wcu: sum(calls.filter((c) => !c.read), (c) => c.capacityUnits),
    calls: calls.length,
    handlerMs,
    posts,
  };
}

function mean(all: Totals[]): Totals | undefined {
  if (all.length === 0) return undefined;
  const keys = Object.keys(all[0]!) as (keyof Totals)[];
  return Object.fromEntries(keys.map((k) => [k, round(all.reduce((s, t) => s + t[k], 0) / all.length, 2)])) as unknown as Totals;
}

/** "UpdateItem 2.1 ms × 2, …" for the calls of `sends` messages. */
function breakdown(calls: Call[], sends: number): string {
  const by = new Map<string, number[]>();
  for (const c of calls) by.set(c.command, [...(by.get(c.command) ?? []), c.ms]);
  return [...by]
    .map(([command, ms]) => `${command.replace(/Command$/, '')} ${median(ms).toFixed(1)} ms × ${round(ms.length / sends, 1)}`)
    .join(', ');
}

/** DynamoDB's item size: attribute names plus values (strings as UTF-8, numbers about one byte per two digits). */
function itemBytes(item: Record<string, string | number>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    bytes += typeof value === 'string' ? Buffer.byteLength(value) : Math.ceil(String(Math.abs(value)).replace(/^0+|\./g, '').length / 2) + 1;
  }
  return bytes;
}

/** Connection ids shaped like API Gateway's (and the local gateway's): 12 random bytes, base64. */
const connectionId = () => randomBytes(12).toString('base64');

interface Setup {
  /** How the rows name it. */
  label: string;
  rooms: number;
  members: number;
}

interface Measured {
  setup: Setup;
  /** Means per message: first send into each room (cold container cache), later sends, all. */
  parley: { cold: Totals; steady: Totals | undefined; all: Totals };
  baseline: Totals;
  parleyCalls: { cold: Call[]; steady: Call[] };
  baselineCalls: Call[];
  coldSends: number;
  steadySends: number;
  sample: { parleyRow: number; baselineRow: number };
}

const fmt = (n: number) => n.toLocaleString('en-US');

export async function readsFigure(ctx: { dynamoEndpoint: string; sizes: Sizes }): Promise<Figure> {
  const { rooms, members, sends, everyone } = ctx.sizes.reads;
  const ddb = dynamoClient(ctx.dynamoEndpoint);
  const meter = new CapacityMeter();
  meter.attach(ddb);
  const db = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
  const sink = await startSink();
  const notifier = managementNotifier(managementClient(sink.endpoint));

  /** One setup on fresh tables: the population written straight to them (no sockets), then `sends` messages. */
  async function measure(setup: Setup): Promise<Measured> {
    const suffix = randomBytes(4).toString('hex');
    const tables = { connections: `bench-reads-connections-${suffix}`, chat: `bench-reads-chat-${suffix}`, users: `bench-reads-users-${suffix}` };
    const baselineTable = `bench-reads-tutorial-${suffix}`;
    try {
      await createTable(ddb, CONNECTIONS_TABLE, tables.connections);
      await createTable(ddb, CHAT_TABLE, tables.chat);
      await createBaselineTable(ddb, baselineTable);
      const base = { db, tables, notifier, fanoutConcurrency: 64, homeRegion: 'local', now: Date.now };
      // Connections are written as the connect function would (its own container); sends go through one chat container with the memory the chat handler keeps.
      const writer: ChatDeps = { ...base };
      const chat: ChatDeps = { ...base, admission: new LocalAdmission(), cache: new ContainerCache() };
      const baseline = createBaselineHandlers({ db, table: baselineTable, managementEndpoint: sink.endpoint });

      progress(`  ${setup.label}: writing ${fmt(setup.rooms * setup.members)} connections into both designs' tables`);
      const roomIds = Array.from({ length: setup.rooms }, (_, k) => `reads-${k}`);
      const people = roomIds.flatMap((room) =>
        Array.from({ length: setup.members }, (_, i) => ({ room, connectionId: connectionId(), userId: randomUUID(), userName: `${room}-user-${i}` })),
      );
      await forEachLimit(roomIds, 4, (room) => ensureRoom(writer, room, room));
      await forEachLimit(people, 16, async (p) => {
        await registerConnection(writer, p.connectionId, { userId: p.userId, userName: p.userName }, p.room);
        await db.send(new PutCommand({ TableName: baselineTable, Item: { connectionId: p.connectionId, room: p.room } }));
      });
      meter.take();

      const cold: Totals[] = [];
      const steady: Totals[] = [];
      const tutorial: Totals[] = [];
      const parleyCalls = { cold: [] as Call[], steady: [] as Call[] };
      const baselineCalls: Call[] = [];
      const sent = new Set<string>();
      for (let s = 0; s < sends; s++) {
        const room = roomIds[s % setup.rooms]!;
        // A different sender each time where the room allows, so no one's rate limit is in play.
        const sender = people.find((p, i) => p.room === room && i % setup.members === Math.floor(s / setup.rooms) % setup.members)!;
        // As the app sends it: with a clientMsgId, so the idempotency write is counted too.
        const frame = { action: 'sendmessage', room, message: `reads probe ${s}`, clientMsgId: `reads-${s}` };
        let posts = sink.posts();
        let t0 = performance.now();
        await perform(chat, { connectionId: sender.connectionId, userId: sender.userId, userName: sender.userName }, parseAction(JSON.stringify(frame)));
        const calls = meter.take();
        const first = !sent.has(room);
        sent.add(room);
        (first ? parleyCalls.cold : parleyCalls.steady).push(...calls);
        (first ? cold : steady).push(totals(calls, 'QueryCommand', sink.posts() - posts, performance.now() - t0));
        posts = sink.posts();
        t0 = performance.now();
        await baseline.sendmessage({
          requestContext: { connectionId: sender.connectionId, domainName: '127.0.0.1', stage: 'production' },
          body: JSON.stringify(frame),
        });
        const scanCalls = meter.take();
        baselineCalls.push(...scanCalls);
        tutorial.push(totals(scanCalls, 'ScanCommand', sink.posts() - posts, performance.now() - t0));
      }
      const p = people[0]!;
      const parleyRow = { ...keys.roomConnection(p.room, p.connectionId), connectionId: p.connectionId, userId: p.userId, userName: p.userName, expiresAt: expiresAtFrom(Date.now()) };
      return {
        setup,
        parley: { cold: mean(cold)!, steady: mean(steady), all: mean([...cold, ...steady])! },
        baseline: mean(tutorial)!,
        parleyCalls,
        baselineCalls,
        coldSends: cold.length,
        steadySends: steady.length,
        sample: { parleyRow: itemBytes(parleyRow), baselineRow: itemBytes({ connectionId: p.connectionId, room: p.room }) },
      };
    } finally {
      for (const t of [tables.connections, tables.chat, baselineTable]) await ddb.send(new DeleteTableCommand({ TableName: t })).catch(() => undefined);
    }
  }

  try {
    const results: Measured[] = [];
    for (const n of everyone) results.push(await measure({ label: `room of ${fmt(n)} = everyone online`, rooms: 1, members: n }));
    const among = await measure({ label: `room of ${fmt(members)} among ${fmt(rooms * members)} online`, rooms, members });
    results.push(among);

    // Later sends where there were any; a cold container's first send is shown beside when it reads differently.
    const typical = (m: Measured) => m.parley.steady ?? m.parley.cold;
    const coldDiffers = (m: Measured) =>
      m.parley.steady !== undefined && (Math.abs(m.parley.cold.readItems - m.parley.steady.readItems) >= 0.5 || Math.abs(m.parley.cold.rcu - m.parley.steady.rcu) >= 0.25);
    const which = (m: Measured) => (m.parley.steady ? (coldDiffers(m) ? ', later sends' : '') : ', first sends');
    const rows: Row[] = [];
    for (const m of results.slice(0, -1)) {
      const p = typical(m);
      rows.push({
        metric: `${m.setup.label}: RCU per message${which(m)}`,
        unit: 'RCU',
        parley: p.rcu,
        baseline: m.baseline.rcu,
        better: 'lower',
        goal: { text: '≤ 2× baseline', met: p.rcu <= 2 * m.baseline.rcu },
      });
      rows.push({ metric: `${m.setup.label}: items read per message${which(m)}`, unit: 'items', parley: p.readItems, baseline: m.baseline.readItems, better: 'lower' });
      if (coldDiffers(m)) {
        rows.push({ metric: `${m.setup.label}: RCU, first send (cold)`, unit: 'RCU', parley: m.parley.cold.rcu, baseline: m.baseline.rcu, better: 'lower' });
        rows.push({ metric: `${m.setup.label}: items read, first send (cold)`, unit: 'items', parley: m.parley.cold.readItems, baseline: m.baseline.readItems, better: 'lower' });
      }
    }
    {
      const m = among;
      const p = typical(m);
      const b = m.baseline;
      const label = m.setup.label;
      const tenfold = (x: number, y: number) => ({ text: '≥ 10× fewer', met: x === 0 ? true : y / x >= 10 });
      rows.push(
        { metric: `${label}: items read per message${which(m)}`, unit: 'items', parley: p.readItems, baseline: b.readItems, better: 'lower', goal: tenfold(p.readItems, b.readItems) },
        { metric: `${label}: RCU per message${which(m)}`, unit: 'RCU', parley: p.rcu, baseline: b.rcu, better: 'lower' },
        { metric: `${label}: fan-out items read${which(m)}`, unit: 'items', parley: p.fanoutItems, baseline: b.fanoutItems, better: 'lower' },
      );
      if (coldDiffers(m)) {
        rows.push(
          { metric: `${label}: items read, first send (cold)`, unit: 'items', parley: m.parley.cold.readItems, baseline: b.readItems, better: 'lower' },
          { metric: `${label}: RCU, first send (cold)`, unit: 'RCU', parley: m.parley.cold.rcu, baseline: b.rcu, better: 'lower' },
        );
      }
      rows.push(
        { metric: `${label}: write capacity per message`, unit: 'WCU', parley: m.parley.all.wcu, baseline: b.wcu, better: 'lower' },
        { metric: `${label}: DynamoDB calls per message`, unit: 'calls', parley: m.parley.all.calls, baseline: b.calls, better: 'lower' },
        { metric: `${label}: handler time per message (posts to a sink)`, unit: 'ms', parley: round(m.parley.all.handlerMs, 1), baseline: round(b.handlerMs, 1), better: 'lower' },
        { metric: `${label}: posts per message`, unit: 'posts', parley: m.parley.all.posts, baseline: b.posts, better: 'lower', ratio: false },
      );
    }
    const where = (m: Measured) => {
      const parts = [`first send${m.coldSends === 1 ? '' : `s (${m.coldSends})`}: ${breakdown(m.parleyCalls.cold, m.coldSends)}`];
      if (m.steadySends) parts.push(`later sends (${m.steadySends}): ${breakdown(m.parleyCalls.steady, m.steadySends)}`);
      return `${m.setup.label}: Parley ${parts.join('; ')}; baseline ${breakdown(m.baselineCalls, m.coldSends + m.steadySends)}`;
    };
    const allTotals = (m: Measured) =>
      `${m.setup.label}: Parley ${m.parley.all.rcu} RCU, ${m.parley.all.readItems} items read, ${m.parley.all.wcu} WCU, ${m.parley.all.calls} calls, ${round(m.parley.all.handlerMs, 1)} ms; baseline ${m.baseline.rcu} RCU, ${m.baseline.readItems} items, ${m.baseline.calls} calls, ${round(m.baseline.handlerMs, 1)} ms`;
    return {
      id: 1,
      title: `DynamoDB reads per message: rooms that are everyone online, and ${fmt(members)} among ${fmt(rooms * members)} online`,
      method:
        `For each setup, fresh tables: connection rows written straight to each design's tables (no sockets), as the connect function would write them; ` +
        `then ${sends} messages sent through each side's real send path (Parley: perform() as the chat handler calls it, in one chat container with the memory that handler keeps, and a clientMsgId as the app sends; ` +
        `baseline: its sendmessage handler, a Scan of the whole table, with a FilterExpression on the room where the room is not everyone). ` +
        `"Everyone online" setups hold one room of ${everyone.map(fmt).join(' / ')} connections and nothing else; the last holds ${rooms} rooms × ${fmt(members)}. ` +
        `A middleware on the DynamoDB client set ReturnConsumedCapacity=TOTAL on every call and recorded DynamoDB Local's ConsumedCapacity and ScannedCount; figures are means per message. ` +
        `A container's first send into a room is counted apart from its later ones wherever the two read differently.`,
      rows,
      notes: [
        `Parley reads the room's partition only (one Query on R#<room>), and none when this container holds the room's recipients at the membership version its seq reservation returned; the baseline's Scan reads every connection in the table and filters afterwards, so its cost grows with all connections online, Parley's with the room.`,
        `RCU are billed on bytes read (4 KB units, halved for eventually consistent reads), not items: Parley's room rows (pk, sk, connectionId, userId, userName, expiresAt) are ~${among.sample.parleyRow} B each against ~${among.sample.baselineRow} B for the tutorial's (connectionId, room), so a Query of a room costs more RCU per item than the Scan does.`,
        `Where a send's time goes (DynamoDB Local on this machine; per call, median ms × calls per message): ${results.map(where).join(' | ')}.`,
        `"First send (cold)": the chat container's first message into a room, which Queries the room and keeps its recipients; "later sends": the rest, which find them held at the membership version their seq reservation returned (no one joins or leaves in between). A container pays a cold send once per room, and again after each join or leave there.`,
        `Means over all sends, first and later: ${results.map(allTotals).join(' | ')}.`,
        `Parley's send also writes: the rate-limit bucket, the room's seq counter, the idempotency key and the message; the tutorial stores nothing. Parley's posts are its ack and the other members (a client that names its message gets no copy of it); the baseline posts to every connection it read, the sender too.`,
      ],
    };
  } finally {
    await sink.close();
    ddb.destroy();
  }
}
