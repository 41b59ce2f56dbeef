/**
 * Membership belongs to the person, through the real stack: rooms follow a
 * user to every socket (sync), leaving ends them everywhere, read positions
 * and unread counts agree across sockets, caps and paging hold, new rooms and
 * invitations arrive live, and direct messages are private to their pair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../amplify/core/keys';
import { LIMITS, type EventOf, type ServerEvent } from '../amplify/core/protocol';
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

beforeAll(async () => {
  stack = await testStack();
  db = DynamoDBDocumentClient.from(dynamoClient(stack.dynamoEndpoint));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  db?.destroy();
  await closeStack(stack);
});

/** The reply of the expected type, or the test fails with the error that came instead. */
async function ok<T extends ServerEvent['type']>(c: TestClient, type: T, action: Parameters<TestClient['request']>[1]): Promise<EventOf<T>> {
  const res: ServerEvent = await c.request(type, action);
  if (res.type === 'error') throw new Error(`${action.action}: ${res.code} ${res.message}`);
  return res as EventOf<T>;
}
async function errorCode(c: TestClient, action: Parameters<TestClient['request']>[1]): Promise<string> {
  const res = await c.reply(action);
  return res.type === 'error' ? res.code : res.type;
}

/** Every socket's frames up to now: once the handlers have settled, a pong comes after anything posted before it. */
async function drained(...cs: TestClient[]): Promise<void> {
  await stack.gateway.settled();
  await Promise.all(cs.map((c) => c.request('pong', { action: 'ping' })));
}

const userId = (name: string): string => {
  const conn = stack.gateway.listConnections().find((c) => c.authorizer.userName === name);
  if (!conn) throw new Error(`${name} has no socket open`);
  return String(conn.authorizer.userId);
};

/** Reserves the next seq of a room and stores `item` there, as the send and edit paths would. */
async function plant(room: string, item: Record<string, unknown>): Promise<number> {
  const res = await db.send(
    new UpdateCommand({
      TableName: stack.tables.chat,
      Key: keys.roomMeta(room),
      UpdateExpression: 'SET lastSeq = lastSeq + :one',
      ExpressionAttributeValues: { ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  const seq = Number(res.Attributes?.lastSeq);
  await db.send(new PutCommand({ TableName: stack.tables.chat, Item: { ...keys.message(room, seq), roomId: room, seq, ts: Date.now(), ...item } }));
  return seq;
}

const synced = async (c: TestClient, cursor?: string) => ok(c, 'synced', { action: 'sync', ...(cursor ? { cursor } : {}) });
const roomIn = (s: EventOf<'synced'>, id: string) => s.rooms.find((r) => r.id === id);

describe('rooms follow the person', () => {
  it('seats a second socket in every room of its user with one sync: messages then arrive live, without a joinroom', async () => {
    const a = await client('mb-ana');
    const bob = await client('mb-bob');
    await ok(a, 'joined', { action: 'createroom', room: 'mb-follow' });
    await ok(bob, 'joined', { action: 'joinroom', room: 'mb-follow' });
    const b = await client('mb-ana');
    const page = await synced(b);
    expect(page.rooms.map((r) => r.id)).toEqual(['lobby', 'mb-follow']);
    expect(page.nextCursor).toBeUndefined();
    expect(roomIn(page, 'mb-follow')).toMatchObject({ name: 'mb-follow', private: false, lastRead: 0, unread: 0 });
    await ok(bob, 'ack', { action: 'sendmessage', room: 'mb-follow', message: 'after the sync', clientMsgId: 'f1' });
    expect((await b.next('message', (m) => m.room === 'mb-follow')).text).toBe('after the sync');
    expect(b.events.some((e) => e.type === 'joined')).toBe(false);
    // And the new socket may post there at once: it is seated, not only told.
    await ok(b, 'ack', { action: 'sendmessage', room: 'mb-follow', message: 'from the second tab', clientMsgId: 'f2' });
  });

  it('tells the other sockets of a user who joins a room, so it follows them too', async () => {
    const a = await client('mb-cleo');
    const b = await client('mb-cleo');
    await ok(a, 'joined', { action: 'createroom', room: 'mb-elsewhere' });
    const added = await b.next('roomadded', (e) => e.room.id === 'mb-elsewhere');
    expect(added.room).toMatchObject({ lastRead: 0, unread: 0 });
    const other = await client('mb-dora');
    await ok(other, 'joined', { action: 'joinroom', room: 'mb-elsewhere' });
    const c = await client('mb-dora');
    // A join that is no news (already a member) tells nobody.
    await ok(other, 'joined', { action: 'joinroom', room: 'mb-elsewhere' });
    await drained(c);
    expect(c.events.filter((e) => e.type === 'roomadded')).toEqual([]);
  });

  it('leaving on one socket unseats the other, tells it roomremoved, and ends the membership', async () => {
    const a = await client('mb-emil');
    const b = await client('mb-emil');
    const bob = await client('mb-fred');
    await ok(bob, 'joined', { action: 'createroom', room: 'mb-leave' });
    await ok(a, 'joined', { action: 'joinroom', room: 'mb-leave' });
    await b.next('roomadded', (e) => e.room.id === 'mb-leave');
    await ok(b, 'joined', { action: 'joinroom', room: 'mb-leave' });
    expect(await ok(a, 'left', { action: 'leaveroom', room: 'mb-leave' })).toMatchObject({ room: 'mb-leave' });
    await b.next('roomremoved', (e) => e.room === 'mb-leave');
    const gone = await bob.next('presence', (p) => p.room === 'mb-leave' && p.event === 'leave');
    expect(gone.members.map((m) => m.name)).toEqual(['mb-fred']);
    await ok(bob, 'ack', { action: 'sendmessage', room: 'mb-leave', message: 'still here?', clientMsgId: 'l1' });
    await drained(a, b);
    expect([...a.events, ...b.events].filter((e) => e.type === 'message' && e.room === 'mb-leave')).toEqual([]);
    expect(await errorCode(b, { action: 'sendmessage', room: 'mb-leave', message: 'me too', clientMsgId: 'l2' })).toBe('not_joined');
    expect((await synced(b)).rooms.map((r) => r.id)).toEqual(['lobby']);
    // Neither a member nor seated any more.
    expect(await errorCode(a, { action: 'leaveroom', room: 'mb-leave' })).toBe('not_joined');
  });

  it('leaves the lobby on this socket only, and the lobby stays in every sync', async () => {
    const a = await client('mb-gina');
    const b = await client('mb-gina');
    await ok(a, 'left', { action: 'leaveroom', room: 'lobby' });
    await drained(b);
    expect(b.events.filter((e) => e.type === 'roomremoved')).toEqual([]);
    expect(await errorCode(a, { action: 'leaveroom', room: 'lobby' })).toBe('not_joined');
    expect((await synced(a)).rooms.map((r) => r.id)).toEqual(['lobby']);
  });
});

describe('read positions', () => {
  it('moves on one socket, reaches the others as `read`, and every reply agrees on unread', async () => {
    const a = await client('mb-hana');
    const b = await client('mb-hana');
    const bob = await client('mb-ivor');
    await ok(bob, 'joined', { action: 'createroom', room: 'mb-read' });
    await ok(a, 'joined', { action: 'joinroom', room: 'mb-read' });
    const seqs: number[] = [];
    for (const text of ['one', 'two', 'three']) seqs.push((await ok(bob, 'ack', { action: 'sendmessage', room: 'mb-read', message: text, clientMsgId: text })).seq);
    expect(roomIn(await synced(b), 'mb-read')).toMatchObject({ lastRead: 0, unread: 3, lastSeq: seqs[2] });
    const read = await ok(a, 'read', { action: 'read', room: 'mb-read', seq: seqs[0]! });
    expect(read).toMatchObject({ room: 'mb-read', seq: seqs[0], unread: 2 });
    const told = await b.next('read', (e) => e.room === 'mb-read');
    expect(told).toMatchObject({ seq: seqs[0], unread: 2 });
    expect(told.reqId).toBeUndefined();
    expect(await ok(b, 'joined', { action: 'joinroom', room: 'mb-read' })).toMatchObject({ lastRead: seqs[0], unread: 2 });
    // Markers only move forward: a lower seq changes nothing, and the answer is the stored one.
    expect(await ok(b, 'read', { action: 'read', room: 'mb-read', seq: 0 })).toMatchObject({ seq: seqs[0], unread: 2 });
    expect(await ok(b, 'read', { action: 'read', room: 'mb-read', seq: seqs[2]! })).toMatchObject({ seq: seqs[2], unread: 0 });
    expect((await a.next('read', (e) => e.room === 'mb-read' && e.seq === seqs[2])).unread).toBe(0);
  });

  it('counts only messages from others: not your own, skips, edits and deletes, or deleted messages', async () => {
    const a = await client('mb-jack');
    const bob = await client('mb-kate');
    await ok(bob, 'joined', { action: 'createroom', room: 'mb-count' });
    const joined = await ok(a, 'joined', { action: 'joinroom', room: 'mb-count' });
    expect(joined).toMatchObject({ lastRead: 0, unread: 0 });
    const bobId = userId('mb-kate');
    await ok(bob, 'ack', { action: 'sendmessage', room: 'mb-count', message: 'theirs 1', clientMsgId: 'c1' });
    await ok(a, 'ack', { action: 'sendmessage', room: 'mb-count', message: 'mine', clientMsgId: 'c2' });
    const target = await ok(bob, 'ack', { action: 'sendmessage', room: 'mb-count', message: 'theirs 2', clientMsgId: 'c3' });
    await plant('mb-count', { skipped: true });
    await plant('mb-count', { kind: 'edit', target: target.seq, text: 'theirs 2, edited', senderId: bobId });
    await plant('mb-count', { id: 'x', senderId: bobId, senderName: 'mb-kate', text: '', deleted: true, editSeq: 9 });
    await plant('mb-count', { kind: 'delete', target: target.seq + 1, senderId: bobId });
    const last = await ok(bob, 'ack', { action: 'sendmessage', room: 'mb-count', message: 'theirs 3', clientMsgId: 'c4' });
    expect(roomIn(await synced(a), 'mb-count')).toMatchObject({ lastRead: 0, unread: 3, lastSeq: last.seq });
    expect(await ok(a, 'joined', { action: 'joinroom', room: 'mb-count' })).toMatchObject({ unread: 3 });
    expect(await ok(a, 'read', { action: 'read', room: 'mb-count', seq: target.seq })).toMatchObject({ unread: 1 });
  });

  it('caps the count at unreadMax', async () => {
    const a = await client('mb-lena');
    const bob = await client('mb-milo');
    await ok(bob, 'joined', { action: 'createroom', room: 'mb-many' });
    await ok(a, 'joined', { action: 'joinroom', room: 'mb-many' });
    const bobId = userId('mb-milo');
    for (let i = 0; i < LIMITS.unreadMax + 5; i++) await plant('mb-many', { id: `m${i}`, senderId: bobId, senderName: 'mb-milo', text: `m${i}` });
    expect(roomIn(await synced(a), 'mb-many')?.unread).toBe(LIMITS.unreadMax);
  });

  it('refuses a seq past the room, and a read position in a room you are not in', async () => {
    const a = await client('mb-nina');
    await ok(a, 'joined', { action: 'createroom', room: 'mb-past' });
    expect(await errorCode(a, { action: 'read', room: 'mb-past', seq: 1 })).toBe('bad_request');
    const stranger = await client('mb-otto');
    expect(await errorCode(stranger, { action: 'read', room: 'mb-past', seq: 0 })).toBe('not_joined');
    expect(await errorCode(stranger, { action: 'read', room: 'mb-nowhere', seq: 0 })).toBe('room_not_found');
    // The lobby is everyone's.
    expect(await ok(stranger, 'read', { action: 'read', room: 'lobby', seq: 0 })).toMatchObject({ room: 'lobby' });
  });
});

describe('limits and paging', () => {
  it(`caps public rooms at ${LIMITS.maxPublicRooms} per user, and leaving gives the place back`, async () => {
    const owner = await client('mb-pia');
    await ok(owner, 'joined', { action: 'createroom', room: 'mb-cap-1' });
    await ok(owner, 'joined', { action: 'createroom', room: 'mb-cap-2' });
    const a = await client('mb-quin');
    const counter = keys.privateCount(userId('mb-quin'));
    await db.send(
      new UpdateCommand({
        TableName: stack.tables.chat,
        Key: counter,
        UpdateExpression: 'SET publicRooms = :n',
        ExpressionAttributeValues: { ':n': LIMITS.maxPublicRooms - 1 },
      }),
    );
    await ok(a, 'joined', { action: 'joinroom', room: 'mb-cap-1' });
    expect(await errorCode(a, { action: 'joinroom', room: 'mb-cap-2' })).toBe('limit_reached');
    // Refused without a trace: no membership, nothing counted.
    expect((await synced(a)).rooms.map((r) => r.id)).toEqual(['lobby', 'mb-cap-1']);
    const count = async () => (await db.send(new GetCommand({ TableName: stack.tables.chat, Key: counter, ConsistentRead: true }))).Item?.publicRooms;
    expect(await count()).toBe(LIMITS.maxPublicRooms);
    // The lobby never counts, and a join that is no news neither.
    await ok(a, 'joined', { action: 'joinroom', room: 'lobby' });
    await ok(a, 'joined', { action: 'joinroom', room: 'mb-cap-1' });
    await ok(a, 'left', { action: 'leaveroom', room: 'mb-cap-1' });
    expect(await count()).toBe(LIMITS.maxPublicRooms - 1);
    await ok(a, 'joined', { action: 'joinroom', room: 'mb-cap-2' });
  });

  it('pages sync with a cursor: the lobby first, then every room by id, each page seated', async () => {
    const a = await client('mb-rosa');
    const me = userId('mb-rosa');
    const ids = Array.from({ length: 120 }, (_, i) => `mb-page-${String(i).padStart(3, '0')}`);
    const items = ids.flatMap((id) => [
      { ...keys.roomMeta(id), roomId: id, name: id, private: false, createdBy: 'x', createdAt: 0, lastSeq: 0, homeRegion: 'local', gsi1pk: keys.publicRoomsGsi, gsi1sk: id },
      { ...keys.member(id, me), userId: me, userName: 'mb-rosa', roomId: id, lastRead: 0, joinedAt: 0, gsi1pk: keys.userRoomsGsi(me), gsi1sk: id },
    ]);
    for (let i = 0; i < items.length; i += 25) {
      await db.send(new BatchWriteCommand({ RequestItems: { [stack.tables.chat]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    const first = await synced(a);
    expect(first.rooms).toHaveLength(LIMITS.roomsPageMax);
    expect(first.nextCursor).toBeDefined();
    const second = await synced(a, first.nextCursor);
    expect(second.nextCursor).toBeUndefined();
    expect([...first.rooms, ...second.rooms].map((r) => r.id)).toEqual(['lobby', ...ids]);
    expect(await errorCode(a, { action: 'sync', cursor: 'p:' })).toBe('bad_request');
    // A room of the second page is live on this socket too.
    const bob = await client('mb-sam');
    await ok(bob, 'joined', { action: 'joinroom', room: ids[110]! });
    await ok(bob, 'ack', { action: 'sendmessage', room: ids[110]!, message: 'page two', clientMsgId: 'p2' });
    expect((await a.next('message', (m) => m.room === ids[110])).text).toBe('page two');
  }, 30_000);
});

describe('rooms that arrive live', () => {
  it('tells everyone in the lobby of a new public room', async () => {
    const watcher = await client('mb-tess');
    const maker = await client('mb-umar');
    await ok(maker, 'joined', { action: 'createroom', room: 'mb-news', name: 'News' });
    expect((await watcher.next('roomcreated', (e) => e.room.id === 'mb-news')).room).toMatchObject({ name: 'News', private: false, createdBy: userId('mb-umar') });
  });

  it('tells each invitee of a private room, on every socket, and who invited them; nobody else hears of it', async () => {
    const invitee = await client('mb-vera');
    const invitee2 = await client('mb-vera');
    const outsider = await client('mb-wes');
    const maker = await client('mb-xena');
    const created = await ok(maker, 'joined', { action: 'createroom', private: true, name: 'Plans', invite: ['mb-vera'] });
    for (const c of [invitee, invitee2]) {
      const added = await c.next('roomadded', (e) => e.room.id === created.room.id);
      expect(added).toMatchObject({ room: { name: 'Plans', private: true, lastRead: 0, unread: 0 }, by: { name: 'mb-xena' } });
    }
    await ok(invitee, 'joined', { action: 'joinroom', room: created.room.id });
    await drained(outsider);
    expect(outsider.events.filter((e) => e.type === 'roomadded' || e.type === 'roomcreated')).toEqual([]);
  });
});

describe('direct messages', () => {
  it('opens one room per pair, from either side, and keeps it to the two of them', async () => {
    const yan = await client('mb-yan');
    const zoe = await client('mb-zoe');
    const third = await client('mb-abe');
    const mine = await ok(yan, 'joined', { action: 'opendm', user: 'MB-ZOE' });
    expect(mine.room).toMatchObject({ private: true });
    expect(mine.room.id).toMatch(/^d[0-9a-f]{31}$/);
    const pair = [
      { id: userId('mb-yan'), name: 'mb-yan' },
      { id: userId('mb-zoe'), name: 'mb-zoe' },
    ].sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(mine.room.dm).toEqual(pair);
    expect(mine.room.name).toBe(pair.map((u) => u.name).join(', '));
    const added = await zoe.next('roomadded', (e) => e.room.id === mine.room.id);
    expect(added.by).toEqual({ id: userId('mb-yan'), name: 'mb-yan' });
    const theirs = await ok(zoe, 'joined', { action: 'opendm', user: 'mb-yan' });
    expect(theirs.room.id).toBe(mine.room.id);
    await ok(yan, 'ack', { action: 'sendmessage', room: mine.room.id, message: 'just us', clientMsgId: 'd1' });
    expect((await zoe.next('message', (m) => m.room === mine.room.id)).text).toBe('just us');
    // Nobody else can read it, join it, or post to it.
    expect(await errorCode(third, { action: 'history', room: mine.room.id })).toBe('room_not_found');
    expect(await errorCode(third, { action: 'joinroom', room: mine.room.id })).toBe('room_not_found');
    expect(['not_joined', 'room_not_found']).toContain(await errorCode(third, { action: 'sendmessage', room: mine.room.id, message: 'hi', clientMsgId: 'd2' }));
    // Someone who left is a member again the next time either opens it, and is told so.
    await ok(zoe, 'left', { action: 'leaveroom', room: mine.room.id });
    expect(await errorCode(zoe, { action: 'history', room: mine.room.id })).toBe('room_not_found');
    await ok(yan, 'joined', { action: 'opendm', user: 'mb-zoe' });
    expect((await zoe.next('roomadded', (e) => e.room.id === mine.room.id)).by?.name).toBe('mb-yan');
    expect((await ok(zoe, 'history', { action: 'history', room: mine.room.id })).messages.map((m) => m.text)).toEqual(['just us']);
  });

  it('refuses a name nobody has, and yourself', async () => {
    const c = await client('mb-bea');
    expect(await errorCode(c, { action: 'opendm', user: 'mb-nobody-has-this' })).toBe('unknown_user');
    expect(await errorCode(c, { action: 'opendm', user: 'MB-BEA' })).toBe('bad_request');
  });

  it('does not let anyone name a public room with a DM id first', async () => {
    const c = await client('mb-cal');
    expect(await errorCode(c, { action: 'createroom', room: `d${'a'.repeat(31)}` })).toBe('bad_request');
  });
});
