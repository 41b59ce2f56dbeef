/**
 * The trust guarantees, on the domain modules against DynamoDB Local: joins
 * and leaves that race their own $disconnect, sessions that end with their
 * token or their state, and limits per person rather than per socket.
 */
import { describe, expect, it } from 'vitest';
import { TransactWriteCommand, UpdateCommand, DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connect, disconnect, perform, type Caller } from '../amplify/core/chat';
import { addToRoom, CONNECT_WINDOW_MS, getConnection, registerConnection, removeFromRoom, roomConnections } from '../amplify/core/connections';
import { keys } from '../amplify/core/keys';
import { LIMITS } from '../amplify/core/protocol';
import { createRoom, ensureRoom } from '../amplify/core/rooms';
import { claimName } from '../amplify/core/users';
import { code, domainFixture, ofType, type DomainFixture } from './support/domain';

const alice = { userId: 'u-alice', userName: 'alice' };
const bob = { userId: 'u-bob', userName: 'bob' };


/**
 * Runs `before` just ahead of the first TransactWrite whose update matches,
 * on the real client: an interleaving, not a stand-in for DynamoDB.
 */
function beforeTransaction(db: DynamoDBDocumentClient, update: string, before: () => Promise<void>): void {
  const send = db.send.bind(db) as (command: unknown) => Promise<unknown>;
  let armed = true;
  (db as unknown as { send: (command: unknown) => Promise<unknown> }).send = async (command: unknown) => {
    if (armed && command instanceof TransactWriteCommand && JSON.stringify(command.input).includes(update)) {
      armed = false;
      await before();
    }
    return send(command);
  };
}

async function roomRows(f: DomainFixture, room: string): Promise<string[]> {
  return (await roomConnections(f.deps, room)).map((c) => c.connectionId);
}

describe('joins and leaves racing their own $disconnect', () => {
  it('a join that loses the race ends quietly and leaves no row behind', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, bob, { id: 'side', private: false, invite: [] });
    await connect(f.deps, { ...alice, connectionId: 'a1' });
    beforeTransaction(f.deps.db, 'ADD rooms', () => disconnect(f.deps, 'a1'));
    expect(await code(perform(f.deps, { ...alice, connectionId: 'a1' }, { action: 'joinroom', room: 'side' }))).toBe('gone');
    expect(await roomRows(f, 'side')).toEqual([]);
    expect(await roomRows(f, 'lobby')).toEqual([]);
    expect(f.notifier.attempts.filter((id) => id === 'a1')).toEqual([]);
  });

  it('a join that wins the race is undone by the $disconnect', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, bob, { id: 'side', private: false, invite: [] });
    const conn = await registerConnection(f.deps, 'a1', alice);
    await addToRoom(f.deps, conn, 'side');
    await disconnect(f.deps, 'a1');
    expect(await roomRows(f, 'side')).toEqual([]);
    expect(await getConnection(f.deps, 'a1')).toBeUndefined();
  });

  it('a leave that loses the race ends quietly', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    const conn = await registerConnection(f.deps, 'a1', alice);
    await disconnect(f.deps, 'a1');
    expect(await code(removeFromRoom(f.deps, conn, 'lobby'))).toBe('gone');
    expect(await roomRows(f, 'lobby')).toEqual([]);
  });
});

describe('sessions', () => {
  it('ends a session whose state was lost instead of seating it in the lobby alone', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    const caller: Caller = { ...alice, connectionId: 'a1' };
    await connect(f.deps, caller);
    await f.deps.db.send(new DeleteCommand({ TableName: f.deps.tables.connections, Key: keys.connection('a1') }));
    expect(await code(perform(f.deps, caller, { action: 'sendmessage', message: 'hello' }))).toBe('session_lost');
    expect(await getConnection(f.deps, 'a1')).toBeUndefined();
  });

  it('refuses every action once the token has expired', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    const caller: Caller = { ...alice, connectionId: 'a1', tokenExp: Math.floor(f.clock.now / 1000) + 60 };
    await connect(f.deps, caller);
    expect(await code(perform(f.deps, caller, { action: 'sendmessage', message: 'in time' }))).toBe('ok');
    f.clock.now += 61_000;
    expect(await code(perform(f.deps, caller, { action: 'sendmessage', message: 'too late' }))).toBe('token_expired');
    expect(await code(perform(f.deps, caller, { action: 'listrooms' }))).toBe('token_expired');
  });
});

describe('limits per person, not per socket', () => {
  it(`caps open connections at ${LIMITS.maxConnectionsPerUser} per user, and frees a slot on disconnect`, async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    for (let i = 0; i < LIMITS.maxConnectionsPerUser; i++) await connect(f.deps, { ...alice, connectionId: `a${i}` });
    expect(await code(connect(f.deps, { ...alice, connectionId: 'extra' }))).toBe('too_many_connections');
    expect(await getConnection(f.deps, 'extra')).toBeUndefined();
    expect(await code(connect(f.deps, { ...bob, connectionId: 'b1' }))).toBe('ok');
    await disconnect(f.deps, 'a0');
    expect(await code(connect(f.deps, { ...alice, connectionId: 'extra' }))).toBe('ok');
  });

  it('holds the cap under concurrent connects', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => code(connect(f.deps, { ...alice, connectionId: `a${i}` }))));
    expect(results.filter((r) => r === 'ok')).toHaveLength(LIMITS.maxConnectionsPerUser);
    expect(results.filter((r) => r !== 'ok').every((r) => r === 'too_many_connections')).toBe(true);
  });

  it('takes back the slots of connections whose $disconnect was lost', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    for (let i = 0; i < LIMITS.maxConnectionsPerUser; i++) await connect(f.deps, { ...alice, connectionId: `a${i}` });
    // Two rows vanish without a $disconnect (swept by TTL, say): their slots are stale.
    for (const id of ['a3', 'a7']) await f.deps.db.send(new DeleteCommand({ TableName: f.deps.tables.connections, Key: keys.connection(id) }));
    // Inside the $connect window a missing row may still be on its way, so its slot is spared.
    expect(await code(connect(f.deps, { ...alice, connectionId: 'early' }))).toBe('too_many_connections');
    f.clock.now += CONNECT_WINDOW_MS + 1;
    expect(await code(connect(f.deps, { ...alice, connectionId: 'n1' }))).toBe('ok');
    expect(await code(connect(f.deps, { ...alice, connectionId: 'n2' }))).toBe('ok');
    expect(await code(connect(f.deps, { ...alice, connectionId: 'n3' }))).toBe('too_many_connections');
  });

  it('fans typing out once per user and room per window, however many sockets and frames', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await connect(f.deps, { ...bob, connectionId: 'b1' });
    const tabs = ['a1', 'a2', 'a3'];
    for (const id of tabs) await connect(f.deps, { ...alice, connectionId: id });
    for (let i = 0; i < 9; i++) await perform(f.deps, { ...alice, connectionId: tabs[i % 3]! }, { action: 'typing', room: 'lobby' });
    expect(ofType(f.notifier.of('b1'), 'typing')).toHaveLength(1);
    f.clock.now += LIMITS.typingEveryMs;
    await perform(f.deps, { ...alice, connectionId: 'a2' }, { action: 'typing', room: 'lobby' });
    expect(ofType(f.notifier.of('b1'), 'typing')).toHaveLength(2);
    // A message ends the typing it came from: typing the next one is news at once.
    await perform(f.deps, { ...alice, connectionId: 'a2' }, { action: 'sendmessage', message: 'done typing' });
    await perform(f.deps, { ...alice, connectionId: 'a3' }, { action: 'typing', room: 'lobby' });
    expect(ofType(f.notifier.of('b1'), 'typing')).toHaveLength(3);
  });

  it('counts people, not sockets, before going quiet in a big room', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    // Fewer people than the limit, but more sockets than it, thanks to one person's many tabs.
    const people = LIMITS.presenceMax - 10;
    for (let i = 0; i < people; i++) await registerConnection(f.deps, `c${i}`, { userId: `u${i}`, userName: `user${i}` });
    for (let i = 0; i < LIMITS.maxConnectionsPerUser; i++) await registerConnection(f.deps, `m${i}`, { userId: 'u-many', userName: 'many' });
    await registerConnection(f.deps, 'a1', alice, 'elsewhere');
    await createRoom(f.deps, bob, { id: 'elsewhere', private: false, invite: [] });
    await perform(f.deps, { ...alice, connectionId: 'a1' }, { action: 'joinroom', room: 'lobby' });
    expect(ofType(f.notifier.of('c0'), 'presence').map((p) => p.user.name)).toEqual(['alice']);
  });

  it('rate-limits room creation and invitations per user', async () => {
    const f = await domainFixture();
    const registry = { db: f.deps.db, table: f.deps.tables.users };
    const invitees = Array.from({ length: LIMITS.maxInvites }, (_, i) => ({ userId: `u-guest${i}`, userName: `guest${i}` }));
    for (const who of invitees) await claimName(registry, who);
    const names = invitees.map((i) => i.userName);
    expect(await code(createRoom(f.deps, alice, { name: 'All', private: true, invite: names }))).toBe('ok');
    // One full invitation burst is spent: the next invitation waits, a room without one does not.
    expect(await code(createRoom(f.deps, alice, { name: 'More', private: true, invite: ['guest0'] }))).toBe('rate_limited');
    for (let i = 0; i < LIMITS.roomCreateBurst - 2; i++) expect(await code(createRoom(f.deps, alice, { id: `r${i}`, private: false, invite: [] }))).toBe('ok');
    expect(await code(createRoom(f.deps, alice, { id: 'one-too-many', private: false, invite: [] }))).toBe('rate_limited');
    expect(await code(createRoom(f.deps, bob, { id: 'bobs', private: false, invite: [] }))).toBe('ok');
    f.clock.now += LIMITS.roomCreateEverySeconds * 1000;
    expect(await code(createRoom(f.deps, alice, { id: 'one-too-many', private: false, invite: [] }))).toBe('ok');
  });

  it(`caps a user's private rooms at ${LIMITS.maxPrivateRooms}, writing nothing for a refused room`, async () => {
    const f = await domainFixture();
    const registry = { db: f.deps.db, table: f.deps.tables.users };
    await claimName(registry, bob);
    await f.deps.db.send(
      new UpdateCommand({
        TableName: f.deps.tables.chat,
        Key: keys.privateCount(bob.userId),
        UpdateExpression: 'SET privateRooms = :n',
        ExpressionAttributeValues: { ':n': LIMITS.maxPrivateRooms },
      }),
    );
    expect(await code(createRoom(f.deps, alice, { name: 'Full', private: true, invite: ['bob'] }))).toBe('limit_reached');
    expect(await code(createRoom(f.deps, alice, { name: 'Alone', private: true, invite: [] }))).toBe('ok');
  });
});
