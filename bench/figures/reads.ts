/**
 * Figure 1: DynamoDB reads per message sent into one room, with every room
 * full. Both sides run their real send path (Parley's `perform`, the
 * baseline's `sendmessage` handler) against DynamoDB Local through a client
 * whose every call is metered (see capacity.ts); posts go to a sink.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { perform } from '../../amplify/core/chat';
import { expiresAtFrom, registerConnection } from '../../amplify/core/connections';
import { managementClient, managementNotifier, type ChatDeps } from '../../amplify/core/deps';
import { forEachLimit } from '../../amplify/core/fanout';
import { keys } from '../../amplify/core/keys';
import { parseAction } from '../../amplify/core/protocol';
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
  recipients: number;
}

function totals(calls: Call[], fanoutCommand: string, recipients: number, handlerMs: number): Totals {
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
    recipients,
  };
}

function mean(all: Totals[]): Totals {
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

export async function readsFigure(ctx: { dynamoEndpoint: string; sizes: Sizes }): Promise<Figure> {
  const { rooms, members, sends } = ctx.sizes.reads;
  const ddb = dynamoClient(ctx.dynamoEndpoint);
  const meter = new CapacityMeter();
  meter.attach(ddb);
  const db = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
  const suffix = randomBytes(4).toString('hex');
  const tables = { connections: `bench-reads-connections-${suffix}`, chat: `bench-reads-chat-${suffix}`, users: `bench-reads-users-${suffix}` };
  const baselineTable = `bench-reads-tutorial-${suffix}`;
  const sink = await startSink();
  try {
    await createTable(ddb, CONNECTIONS_TABLE, tables.connections);
    await createTable(ddb, CHAT_TABLE, tables.chat);
    await createBaselineTable(ddb, baselineTable);
    const deps: ChatDeps = {
      db,
      tables,
      notifier: managementNotifier(managementClient(sink.endpoint)),
      fanoutConcurrency: 64,
      homeRegion: 'local',
      now: Date.now,
    };
    const baseline = createBaselineHandlers({ db, table: baselineTable, managementEndpoint: sink.endpoint });

    // The same population in both designs, written straight to the tables: no sockets needed to read rows.
    progress(`  writing ${rooms} rooms × ${members} connections into both designs' tables`);
    const roomIds = Array.from({ length: rooms }, (_, k) => `room-${k}`);
    const people = roomIds.flatMap((room) =>
      Array.from({ length: members }, (_, i) => ({ room, connectionId: connectionId(), userId: randomUUID(), userName: `${room}-user-${i}` })),
    );
    await forEachLimit(roomIds, 4, (room) => ensureRoom(deps, room, room));
    await forEachLimit(people, 16, async (p) => {
      await registerConnection(deps, p.connectionId, { userId: p.userId, userName: p.userName }, p.room);
      await db.send(new PutCommand({ TableName: baselineTable, Item: { connectionId: p.connectionId, room: p.room } }));
    });
    meter.take();

    const parley: Totals[] = [];
    const tutorial: Totals[] = [];
    const parleyCalls: Call[] = [];
    const tutorialCalls: Call[] = [];
    for (let s = 0; s < sends; s++) {
      const room = roomIds[s % rooms]!;
      // A different sender each time, so no one's rate limit is in play.
      const sender = people.find((p, i) => p.room === room && i % members === Math.floor(s / rooms) % members)!;
      // As the app sends it: with a clientMsgId, so the idempotency read is counted too.
      const frame = { action: 'sendmessage', room, message: `reads probe ${s}`, clientMsgId: `reads-${s}` };
      let posts = sink.posts();
      let t0 = performance.now();
      await perform(deps, { connectionId: sender.connectionId, userId: sender.userId, userName: sender.userName }, parseAction(JSON.stringify(frame)));
      // The ack to the sender is a post too; recipients are the room's members.
      const calls = meter.take();
      parleyCalls.push(...calls);
      parley.push(totals(calls, 'QueryCommand', sink.posts() - posts - 1, performance.now() - t0));
      posts = sink.posts();
      t0 = performance.now();
      await baseline.sendmessage({
        requestContext: { connectionId: sender.connectionId, domainName: '127.0.0.1', stage: 'production' },
        body: JSON.stringify(frame),
      });
      const scanCalls = meter.take();
      tutorialCalls.push(...scanCalls);
      tutorial.push(totals(scanCalls, 'ScanCommand', sink.posts() - posts, performance.now() - t0));
    }
    const p = mean(parley);
    const b = mean(tutorial);
    const tenfold = (row: Omit<Row, 'goal'>): Row => {
      const ratio = row.parley && row.baseline ? row.baseline / row.parley : null;
      return { ...row, goal: { text: '≥ 10× fewer', met: ratio === null ? null : ratio >= 10 } };
    };
    const rows: Row[] = [
      tenfold({ metric: 'fan-out read: items read per message', unit: 'items', parley: p.fanoutItems, baseline: b.fanoutItems, better: 'lower' }),
      tenfold({ metric: 'fan-out read: read capacity per message', unit: 'RCU', parley: p.fanoutRcu, baseline: b.fanoutRcu, better: 'lower' }),
      tenfold({ metric: 'whole send: items read per message', unit: 'items', parley: p.readItems, baseline: b.readItems, better: 'lower' }),
      tenfold({ metric: 'whole send: read capacity per message', unit: 'RCU', parley: p.rcu, baseline: b.rcu, better: 'lower' }),
      { metric: 'whole send: write capacity per message', unit: 'WCU', parley: p.wcu, baseline: b.wcu, better: 'lower' },
      { metric: 'whole send: DynamoDB calls per message', unit: 'calls', parley: p.calls, baseline: b.calls, better: 'lower' },
      { metric: 'whole send: handler time per message (posts to a sink)', unit: 'ms', parley: round(p.handlerMs, 1), baseline: round(b.handlerMs, 1), better: 'lower' },
      { metric: 'recipients per message', unit: 'conns', parley: p.recipients, baseline: b.recipients, better: 'higher' },
    ];
    const sample = people[0]!;
    const parleyRow = { ...keys.roomConnection(sample.room, sample.connectionId), connectionId: sample.connectionId, userId: sample.userId, userName: sample.userName, expiresAt: expiresAtFrom(Date.now()) };
    return {
      id: 1,
      title: `DynamoDB reads per message, ${rooms} rooms × ${members} connections`,
      method:
        `Connection rows for ${rooms * members} connections were written straight to each design's tables (no sockets), ` +
        `then ${sends} messages were sent through each side's real send path (Parley: perform() as the chat handler calls it, with a clientMsgId as the app sends; ` +
        `baseline: its sendmessage handler, Scan + FilterExpression on the room). A middleware on the DynamoDB client set ReturnConsumedCapacity=TOTAL on every call ` +
        `and recorded DynamoDB Local's ConsumedCapacity and ScannedCount; figures are means per message.`,
      rows,
      notes: [
        `Parley reads the room's partition only (one Query on R#<room>); the baseline's Scan reads every connection in the table and filters afterwards, so its cost grows with all connections, Parley's with the room.`,
        `RCU are billed on bytes read (4 KB units, halved for eventually consistent reads), not items: Parley's room rows (pk, sk, connectionId, userId, userName, expiresAt) are ~${itemBytes(parleyRow)} B each against ~${itemBytes({ connectionId: sample.connectionId, room: sample.room })} B for the tutorial's (connectionId, room), so the RCU ratio is smaller than the item ratio at this size.`,
        `Where a send's time goes (DynamoDB Local on this machine; per call, median ms × calls per message): Parley ${breakdown(parleyCalls, sends)}; baseline ${breakdown(tutorialCalls, sends)}. Parley's writes before the first post run one after another (rate limit → idempotency read → seq counter → message transaction), so a send waits for their sum.`,
        `Parley's whole send also writes: the rate-limit update on the connection row, the room's seq counter, and the message with its idempotency key (a transaction, billed double); the tutorial stores nothing.`,
      ],
    };
  } finally {
    for (const t of [tables.connections, tables.chat, baselineTable]) await ddb.send(new DeleteTableCommand({ TableName: t })).catch(() => undefined);
    await sink.close();
    ddb.destroy();
  }
}
