/**
 * Two regions on one machine (local/regions): two DynamoDB Locals with
 * streams, replicators with last-writer-wins and a 70 ms one-way delay, a
 * gateway process per region with its home function and stream fan-out.
 * What issue 10 promises, end to end: one order per room decided by its
 * home, forwarding, delivery everywhere exactly once, convergence, and a
 * region outage.
 */
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage, EventOf } from '../amplify/core/protocol';
import { keys } from '../amplify/core/keys';
import { dynamoClient } from '../local/dynamodb';

const dynamoDocument = (endpoint: string) => DynamoDBDocumentClient.from(dynamoClient(endpoint));
import { cognitoCall, LOCAL_PASSWORD } from '../local/cognito';
import { TestClient } from './support/client';
import { closeRegions, twoRegions, type Regions } from './support/regions';

let regions: Regions;
const clients: TestClient[] = [];

beforeAll(async () => {
  regions = await twoRegions();
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await closeRegions(regions);
});

const [A, B] = [0, 1] as const;

async function connect(region: 0 | 1, name: string): Promise<TestClient> {
  const c = await TestClient.connect(regions.regions[region]!.websocketUrl, await regions.token(name));
  clients.push(c);
  return c;
}

async function create(c: TestClient, room: string): Promise<void> {
  const res = await c.request('joined', { action: 'createroom', room, name: room, private: false });
  if (res.type !== 'joined') throw new Error(`createroom ${room}: ${res.code} ${res.message}`);
}

async function join(c: TestClient, room: string): Promise<EventOf<'joined'>> {
  for (let i = 0; ; i++) {
    const res = await c.request('joined', { action: 'joinroom', room });
    if (res.type === 'joined') return res;
    // The room's META may still be on its way to this region's replica.
    if (res.code !== 'room_not_found' || i > 40) throw new Error(`joinroom ${room}: ${res.code} ${res.message}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function send(c: TestClient, room: string, message: string): Promise<EventOf<'ack'>> {
  const res = await c.request('ack', { action: 'sendmessage', room, message, clientMsgId: `m-${message}` }, 10_000);
  if (res.type !== 'ack') throw new Error(`send ${message}: ${res.code} ${res.message}`);
  return res;
}

/** Every message of `room` a client got, as messages or as its own acks, in arrival order. */
function received(c: TestClient, room: string, acks: EventOf<'ack'>[], texts: Map<number, string>): number[] {
  const live = c.events.filter((e): e is EventOf<'message'> => e.type === 'message' && e.room === room);
  for (const m of live) texts.set(m.seq, m.text);
  return [...live.map((m) => m.seq), ...acks.map((a) => a.seq)];
}

/** Waits until `c` holds live messages of `room` with these seqs (or fails after the timeout). */
async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function itemIn(region: 0 | 1, key: Record<string, string>): Promise<Record<string, unknown> | undefined> {
  const r = regions.regions[region]!;
  const db = dynamoDocument(r.dynamoEndpoint);
  try {
    return (await db.send(new GetCommand({ TableName: r.tables.chat, Key: key, ConsistentRead: true }))).Item;
  } finally {
    db.destroy();
  }
}

describe('two regions', () => {
  it('delivers every message of a room homed in A once to everyone in both regions, in one order, with sends from B forwarded', async () => {
    const [alice, carol] = [await connect(A, 'alice'), await connect(A, 'carol')];
    const [bob, dave] = [await connect(B, 'bob'), await connect(B, 'dave')];
    await create(alice, 'world');
    for (const c of [carol, bob, dave]) await join(c, 'world');
    const senders = [alice, bob, carol, dave];
    const acks = new Map<TestClient, EventOf<'ack'>[]>(senders.map((c) => [c, []]));
    // Interleaved and concurrent: each sender's messages in order, the four at once.
    await Promise.all(
      senders.map(async (c, i) => {
        for (let k = 0; k < 6; k++) acks.get(c)!.push(await send(c, 'world', `s${i}-${k}`));
      }),
    );
    const total = 24;
    const allSeqs = [...acks.values()].flat().map((a) => a.seq).sort((x, y) => x - y);
    // The home decided one gapless order, whichever region each send came from.
    expect(allSeqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const texts = senders.map(() => new Map<number, string>());
    await until(() => senders.every((c, i) => new Set(received(c, 'world', acks.get(c)!, texts[i]!)).size === total), 'everyone to hold 24 messages');
    for (const [i, c] of senders.entries()) {
      const got = received(c, 'world', acks.get(c)!, texts[i]!);
      // Exactly once on the wire: no copy of a message a client already had as its ack, no replayed record.
      expect(got.length, `client ${i} got a duplicate`).toBe(total);
    }
    // And the same text at every seq everywhere.
    const reference = new Map<number, string>();
    for (const [c, list] of acks) for (const a of list) reference.set(a.seq, `s${senders.indexOf(c)}-${list.indexOf(a)}`);
    for (const t of texts) for (const [seq, text] of t) expect(text).toBe(reference.get(seq));
    // Both regions' history reads the same room.
    const [ha, hb] = await Promise.all([alice, bob].map((c) => c.request('history', { action: 'history', room: 'world', after: 0, limit: 100 })));
    if (ha?.type !== 'history' || hb?.type !== 'history') throw new Error('history refused');
    expect(hb.messages.map((m: ChatMessage) => [m.seq, m.text])).toEqual(ha.messages.map((m: ChatMessage) => [m.seq, m.text]));
    expect(ha.messages).toHaveLength(total);
  }, 90_000);

  it('claims a room id once when both regions create it at the same moment, and both replicas agree', async () => {
    const [erin, finn] = [await connect(A, 'erin'), await connect(B, 'finn')];
    const [ra, rb] = await Promise.all([
      erin.request('joined', { action: 'createroom', room: 'twin', name: 'from A', private: false }),
      finn.request('joined', { action: 'createroom', room: 'twin', name: 'from B', private: false }),
    ]);
    const outcomes = [ra.type === 'joined' ? 'joined' : ra.code, rb.type === 'joined' ? 'joined' : rb.code].sort();
    expect(outcomes).toEqual(['joined', 'room_exists']);
    const winner = ra.type === 'joined' ? 'A' : 'B';
    await regions.replication.settled();
    const [ma, mb] = await Promise.all([itemIn(A, keys.roomMeta('twin')), itemIn(B, keys.roomMeta('twin'))]);
    expect(ma).toEqual(mb);
    expect(ma?.name).toBe(`from ${winner}`);
    expect(ma?.homeRegion).toBe(winner === 'A' ? 'local-a' : 'local-b');
  }, 60_000);

  it('decides a chat name once, in the primary, when two people sign up with it at the same moment, and both replicas agree', async () => {
    const signUp = (email: string) =>
      cognitoCall(regions.cognito.endpoint, 'SignUp', {
        ClientId: regions.cognito.clientId,
        Username: email,
        Password: LOCAL_PASSWORD,
        UserAttributes: [
          { Name: 'email', Value: email },
          { Name: 'preferred_username', Value: 'Zephyr' },
        ],
      }).then(
        () => 'ok',
        (err: Error) => err.name,
      );
    const outcomes = await Promise.all([signUp('zephyr1@parley.local'), signUp('zephyr2@parley.local')]);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    await regions.replication.settled();
    const claim = async (region: 0 | 1) => {
      const r = regions.regions[region]!;
      const db = dynamoDocument(r.dynamoEndpoint);
      try {
        return (await db.send(new GetCommand({ TableName: r.tables.users, Key: keys.userName('Zephyr'), ConsistentRead: true }))).Item;
      } finally {
        db.destroy();
      }
    };
    const [ca, cb] = await Promise.all([claim(A), claim(B)]);
    expect(ca?.userId).toBeTruthy();
    expect(cb).toEqual(ca);
  }, 60_000);

  it('never lets a reader in another region turn a message into a skip, even behind an old message that arrived first', async () => {
    const [gail, hank] = [await connect(A, 'gail'), await connect(B, 'hank')];
    await create(gail, 'gaps');
    await join(hank, 'gaps');
    await regions.replication.settled();
    regions.replication.pause('local-a', 'local-b');
    const first = await send(gail, 'gaps', 'kept');
    const second = await send(gail, 'gaps', 'later');
    // Seq 2 reaches B before seq 1 (replication reorders items), as an old message: a reader
    // settling gaps by the writer's age would mark seq 1 skipped here, and that skip would win everywhere.
    const copy = await itemIn(A, keys.message('gaps', second.seq));
    const db = dynamoDocument(regions.regions[B]!.dynamoEndpoint);
    await db.send(new PutCommand({ TableName: regions.regions[B]!.tables.chat, Item: { ...copy, ts: Date.now() - 120_000 } }));
    db.destroy();
    const page = await hank.request('history', { action: 'history', room: 'gaps', after: 0, limit: 10 });
    if (page.type !== 'history') throw new Error(page.message);
    expect(page.skipped).toEqual([]);
    expect(page.messages.map((m) => m.seq)).toEqual([second.seq]);
    regions.replication.resume('local-a', 'local-b');
    await regions.replication.settled();
    for (const region of [A, B] as const) {
      const item = await itemIn(region, keys.message('gaps', first.seq));
      expect(item?.skipped, `seq ${first.seq} in region ${region}`).toBeUndefined();
      expect(item?.text).toBe('kept');
    }
  }, 60_000);

  it('keeps B reading and its own rooms working while A is down; sends to A-homed rooms are refused as home_unavailable, and an A client fails over losing nothing', async () => {
    const [ivy, jack] = [await connect(A, 'ivy'), await connect(B, 'jack')];
    await create(ivy, 'alpha');
    await create(jack, 'beta');
    await join(jack, 'alpha');
    await join(ivy, 'beta');
    const before = await send(ivy, 'alpha', 'before-outage');
    await send(jack, 'beta', 'beta-1');
    await ivy.next('message', (m) => m.room === 'beta' && m.text === 'beta-1', 10_000);
    const lastSeen = { alpha: before.seq, beta: 1 };
    await jack.next('message', (m) => m.room === 'alpha' && m.seq === before.seq, 10_000);

    await regions.regions[A]!.stop();
    await ivy.closed;
    // B-homed rooms go on; A-homed ones refuse sends with a typed, retryable error.
    await send(jack, 'beta', 'beta-2');
    const refused = await jack.request('ack', { action: 'sendmessage', room: 'alpha', message: 'during', clientMsgId: 'm-during' });
    expect(refused.type === 'error' && refused.code).toBe('home_unavailable');
    expect(refused.type === 'error' && refused.retryAfterMs).toBeGreaterThan(0);
    // Reading A's room still works in B.
    const alpha = await jack.request('history', { action: 'history', room: 'alpha', after: 0 });
    expect(alpha.type === 'history' && alpha.messages.map((m) => m.text)).toEqual(['before-outage']);

    // ivy fails over to B and catches up from her last seqs.
    const again = await connect(B, 'ivy');
    const synced = await again.request('synced', { action: 'sync' });
    if (synced.type !== 'synced') throw new Error(synced.message);
    expect(synced.rooms.map((r) => r.id).sort()).toEqual(['alpha', 'beta', 'lobby']);
    const missed = await again.request('history', { action: 'history', room: 'beta', after: lastSeen.beta });
    expect(missed.type === 'history' && missed.messages.map((m) => m.text)).toEqual(['beta-2']);
    await send(again, 'beta', 'beta-3');
    await jack.next('message', (m) => m.room === 'beta' && m.text === 'beta-3', 10_000);

    // A comes back: the refused send goes through on retry, ordered by A.
    await regions.regions[A]!.start();
    let retried: EventOf<'ack'> | undefined;
    for (let i = 0; i < 40 && !retried; i++) {
      const res = await jack.request('ack', { action: 'sendmessage', room: 'alpha', message: 'during', clientMsgId: 'm-during', retry: true }, 10_000);
      if (res.type === 'ack') retried = res;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(retried?.seq).toBe(lastSeen.alpha + 1);
  }, 120_000);
});
