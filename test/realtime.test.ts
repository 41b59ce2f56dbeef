/**
 * The real handlers behind the local API Gateway, driven by real WebSocket
 * clients with real cognito-local tokens, on DynamoDB Local.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../amplify/core/keys';
import { expiresAtFrom } from '../amplify/core/connections';
import { LIMITS } from '../amplify/core/protocol';
import { dynamoClient } from '../local/dynamodb';
import type { LocalStack } from '../local/stack';
import { TestClient } from './support/client';
import { closeStack, testStack } from './support/stack';

let stack: LocalStack;
let db: DynamoDBDocumentClient;
const clients: TestClient[] = [];

async function client(user: string): Promise<TestClient> {
  const c = await TestClient.connect(stack.websocketUrl, await stack.token(user));
  clients.push(c);
  return c;
}

async function lastSeq(room: string): Promise<number> {
  const res = await db.send(new GetCommand({ TableName: stack.tables.chat, Key: keys.roomMeta(room), ConsistentRead: true }));
  return Number(res.Item?.lastSeq ?? 0);
}

beforeAll(async () => {
  stack = await testStack();
  db = DynamoDBDocumentClient.from(dynamoClient(stack.dynamoEndpoint));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await closeStack(stack);
});

describe('the tutorial flow', () => {
  it('delivers {"action":"sendmessage","message":…} to everyone in the lobby', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    alice.send({ action: 'sendmessage', message: 'hello, everyone!' });
    const [atBob, atAlice, ack] = await Promise.all([
      bob.next('message', (m) => m.text === 'hello, everyone!'),
      alice.next('message', (m) => m.text === 'hello, everyone!'),
      alice.next('ack'),
    ]);
    expect(atBob).toMatchObject({ room: 'lobby', senderName: 'alice', seq: ack.seq });
    expect(atAlice.id).toBe(atBob.id);
    // The tutorial's own text spells the action sendMessage; API Gateway would route that to $default.
    bob.send({ action: 'sendMessage', message: 'How are you ?' });
    expect((await alice.next('message', (m) => m.text === 'How are you ?')).senderName).toBe('bob');
  });
});

describe('rooms', () => {
  it('keeps a room’s traffic inside it', async () => {
    const carol = await client('carol');
    const dave = await client('dave');
    const outsider = await client('erin');
    expect(await carol.request('joined', { action: 'createroom', room: 'book-club' })).toMatchObject({ type: 'joined' });
    expect(await dave.request('joined', { action: 'joinroom', room: 'book-club' })).toMatchObject({ type: 'joined' });
    const presence = await carol.next('presence', (p) => p.room === 'book-club' && p.user.name === 'dave');
    expect(presence.members.map((m) => m.name)).toEqual(['carol', 'dave']);
    carol.send({ action: 'sendmessage', room: 'book-club', message: 'chapter 3?', clientMsgId: 'c3' });
    expect((await dave.next('message', (m) => m.room === 'book-club')).text).toBe('chapter 3?');
    dave.send({ action: 'typing', room: 'book-club' });
    expect((await carol.next('typing')).user.name).toBe('dave');
    // Barriers, not a sleep: once the handlers have settled, the outsider's pong comes after anything posted to it.
    await stack.gateway.settled();
    await outsider.request('pong', { action: 'ping' });
    expect(outsider.events.filter((e) => e.type === 'message' && e.room === 'book-club')).toEqual([]);
    expect(outsider.events.filter((e) => e.type === 'typing')).toEqual([]);
  });

  it('hides a private room from strangers and lets invitees in', async () => {
    const owner = await client('frank');
    const friend = await client('grace');
    const stranger = await client('heidi');
    const created = await owner.request('joined', { action: 'createroom', private: true, name: 'Secret', invite: ['grace'] });
    expect(created).toMatchObject({ type: 'joined', room: { name: 'Secret', private: true } });
    if (created.type !== 'joined') throw new Error(created.message);
    const secret = created.room.id;
    for (const action of [
      { action: 'joinroom', room: secret },
      { action: 'history', room: secret },
      { action: 'sendmessage', room: secret, message: 'let me in' },
      { action: 'typing', room: secret },
    ] as const) {
      const res = await stranger.request('joined', action);
      expect(res.type).toBe('error');
      expect(['room_not_found', 'not_joined']).toContain(res.type === 'error' && res.code);
    }
    const rooms = await stranger.request('rooms', { action: 'listrooms' });
    expect(rooms.type === 'rooms' && rooms.rooms.map((r) => r.id)).not.toContain(secret);
    const friendRooms = await friend.request('rooms', { action: 'listrooms' });
    expect(friendRooms.type === 'rooms' && friendRooms.rooms.map((r) => r.id)).toContain(secret);
    expect((await friend.request('joined', { action: 'joinroom', room: secret })).type).toBe('joined');
    expect(await lastSeq(secret)).toBe(0);
  });

  it('takes identity from the token, whatever the frame claims', async () => {
    const mallory = await client('mallory');
    const victim = await client('victor');
    mallory.send({ action: 'sendmessage', message: 'I am victor', senderName: 'victor', senderId: 'x', userName: 'victor' } as Record<string, unknown>);
    const seen = await victim.next('message', (m) => m.text === 'I am victor');
    expect(seen.senderName).toBe('mallory');
  });
});

describe('ordering, history and catch-up', () => {
  it('pages history and catches a reconnecting client up with no gap', async () => {
    const writer = await client('ivan');
    await writer.request('joined', { action: 'createroom', room: 'log' });
    let reader = await client('judy');
    await reader.request('joined', { action: 'joinroom', room: 'log' });
    for (let i = 1; i <= 5; i++) expect((await writer.request('ack', { action: 'sendmessage', room: 'log', message: `m${i}`, clientMsgId: `log-${i}` })).type).toBe('ack');
    const seen = [];
    for (let i = 1; i <= 5; i++) seen.push(await reader.next('message', (m) => m.room === 'log'));
    const lastSeen = Math.max(...seen.map((m) => m.seq));
    await reader.close();
    for (let i = 6; i <= 12; i++) await writer.request('ack', { action: 'sendmessage', room: 'log', message: `m${i}`, clientMsgId: `log-${i}` });
    reader = await client('judy');
    await reader.request('joined', { action: 'joinroom', room: 'log' });
    const page = await reader.request('history', { action: 'history', room: 'log', after: lastSeen, limit: 4 });
    const rest = page.type === 'history' && page.hasMore ? await reader.request('history', { action: 'history', room: 'log', after: lastSeen + 4 }) : page;
    const caughtUp = [...(page.type === 'history' ? page.messages : []), ...(rest.type === 'history' ? rest.messages : [])];
    expect(caughtUp.map((m) => m.text)).toEqual(['m6', 'm7', 'm8', 'm9', 'm10', 'm11', 'm12']);
    expect(caughtUp.map((m) => m.seq)).toEqual(Array.from({ length: 7 }, (_, i) => lastSeen + 1 + i));
    const older = await reader.request('history', { action: 'history', room: 'log', before: 3 });
    expect(older.type === 'history' && older.messages.map((m) => m.text)).toEqual(['m1', 'm2']);
  });

  it('answers a retried send with the first ack and stores it once', async () => {
    const kim = await client('kim');
    const before = await lastSeq('lobby');
    const first = await kim.request('ack', { action: 'sendmessage', message: 'only once', clientMsgId: 'retry-1' });
    const second = await kim.request('ack', { action: 'sendmessage', message: 'only once', clientMsgId: 'retry-1' });
    expect(first.type === 'ack' && first.duplicate).toBe(false);
    expect(second).toMatchObject({ type: 'ack', duplicate: true, seq: first.type === 'ack' ? first.seq : -1 });
    const page = await kim.request('history', { action: 'history', room: 'lobby', after: before });
    expect(page.type === 'history' && page.messages.filter((m) => m.text === 'only once')).toHaveLength(1);
  });
});

describe('stale connections', () => {
  it('prunes a recipient API Gateway says is gone (410), and delivers to the rest', async () => {
    const sender = await client('leo');
    const ghost = 'R2hvc3QrLz0=';
    const expiresAt = expiresAtFrom(Date.now());
    await db.send(new PutCommand({ TableName: stack.tables.connections, Item: { ...keys.connection(ghost), connectionId: ghost, userId: 'g', userName: 'ghost', rooms: new Set(['lobby']), expiresAt } }));
    await db.send(new PutCommand({ TableName: stack.tables.connections, Item: { ...keys.roomConnection('lobby', ghost), connectionId: ghost, userId: 'g', userName: 'ghost', expiresAt } }));
    expect((await sender.request('ack', { action: 'sendmessage', message: 'boo' })).type).toBe('ack');
    await sender.next('message', (m) => m.text === 'boo');
    // Pruning runs beside delivery, so the sender may hear its own message first.
    await vi.waitFor(async () => {
      const row = await db.send(new GetCommand({ TableName: stack.tables.connections, Key: keys.roomConnection('lobby', ghost) }));
      expect(row.Item).toBeUndefined();
      const conn = await db.send(new GetCommand({ TableName: stack.tables.connections, Key: keys.connection(ghost) }));
      expect(conn.Item).toBeUndefined();
    });
    const lobby = await db.send(
      new QueryCommand({
        TableName: stack.tables.connections,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.roomPk('lobby') },
      }),
    );
    expect(lobby.Items?.some((i) => i.userName === 'leo')).toBe(true);
    expect((await sender.request('pong', { action: 'ping' })).type).toBe('pong');
  });
});

describe('limits', () => {
  it('rate-limits a flood with typed errors and stays usable', async () => {
    const flooder = await client('mike');
    const before = await lastSeq('lobby');
    // The handlers run in this process and read Date.now: with the clock held still, no token refills
    // and no report window passes during the flood, so what comes back is exact, however slow the machine.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      for (let i = 0; i < 40; i++) flooder.send({ action: 'sendmessage', message: `flood ${i}`, clientMsgId: `f${i}` });
      const limited = await flooder.next('error', (e) => e.code === 'rate_limited');
      expect(limited.retryAfterMs).toBeGreaterThan(0);
      // Barriers, not a sleep: a pong means the gateway has every frame sent before the ping; once its
      // invocations have settled, a second pong comes after every reply they posted.
      await flooder.request('pong', { action: 'ping' });
      await stack.gateway.settled();
      await flooder.request('pong', { action: 'ping' });
      const acks = flooder.events.filter((e) => e.type === 'ack').length;
      const others = flooder.events.filter((e) => e.type === 'error' && e.code === 'rate_limited').length;
      // The burst, exactly; then one refusal (the one awaited above), and the other 19 frames dropped
      // unanswered, since a flooding socket is told at most once per 100 ms.
      expect(acks).toBe(LIMITS.rateBurst);
      expect(others).toBe(0);
      expect(await lastSeq('lobby')).toBe(before + LIMITS.rateBurst);
      // Past the time it was told to wait, it is served again.
      vi.setSystemTime(Date.now() + (limited.retryAfterMs ?? 0) + 1000);
      expect((await flooder.request('ack', { action: 'sendmessage', message: 'calm again' })).type).toBe('ack');
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses connections without a valid token', async () => {
    expect(await TestClient.refusal(stack.websocketUrl)).toBe(401);
    expect(await TestClient.refusal(`${stack.websocketUrl}?token=not-a-jwt`)).toBe(403);
    const good = await stack.token('olivia');
    const [h, p] = good.split('.');
    expect(await TestClient.refusal(`${stack.websocketUrl}?token=${h}.${p}.`)).toBe(403);
  });
});
