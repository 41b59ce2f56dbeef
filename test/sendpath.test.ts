/**
 * The send path's shortcuts, each checked against what it must not change:
 * a container's recipients list, the speculative seq, the idempotency key
 * written without a transaction, and who gets a copy of a message.
 */
import { describe, expect, it } from 'vitest';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ContainerCache } from '../amplify/core/cache';
import { perform, type Caller } from '../amplify/core/chat';
import { registerConnection } from '../amplify/core/connections';
import type { ChatDeps } from '../amplify/core/deps';
import { keys } from '../amplify/core/keys';
import { history, postMessage } from '../amplify/core/messages';
import { admitLocally, BUCKETS, consume, LocalAdmission } from '../amplify/core/ratelimit';
import { createRoom, ensureRoom } from '../amplify/core/rooms';
import { claimName } from '../amplify/core/users';
import { code, domainFixture, ofType, type DomainFixture } from './support/domain';

const alice = { userId: 'u-alice', userName: 'alice' };
const bob = { userId: 'u-bob', userName: 'bob' };
const carol = { userId: 'u-carol', userName: 'carol' };

/** Counts the DynamoDB commands sent through `deps`, by name. */
function countCalls(deps: ChatDeps): { names: string[] } {
  const seen = { names: [] as string[] };
  const send = deps.db.send.bind(deps.db) as (command: unknown) => Promise<unknown>;
  (deps.db as unknown as { send: (command: unknown) => Promise<unknown> }).send = (command: unknown) => {
    seen.names.push((command as object).constructor.name);
    return send(command);
  };
  return seen;
}

/** A second warm container over the same tables: its own memory, the same everything else. */
const container = (f: DomainFixture): ChatDeps => ({ ...f.deps, cache: new ContainerCache() });

async function seat(deps: ChatDeps, who: typeof alice, connectionId: string, room: string): Promise<Caller> {
  const caller = { ...who, connectionId };
  await registerConnection(deps, connectionId, who);
  await perform(deps, caller, { action: 'joinroom', room });
  return caller;
}

const messagesTo = (f: DomainFixture, connectionId: string) => ofType(f.notifier.sent.get(connectionId) ?? [], 'message');

describe('recipients a container remembers', () => {
  it('reads no connection rows while membership is unchanged, and reads again after a join elsewhere', async () => {
    const f = await domainFixture();
    const a = f.deps;
    const b = container(f);
    await ensureRoom(a);
    await createRoom(a, alice, { id: 'cached', private: false, invite: [] });
    const sender = await seat(a, alice, 'c-alice', 'cached');
    await seat(a, bob, 'c-bob', 'cached');
    const calls = countCalls(a);
    await perform(a, sender, { action: 'sendmessage', room: 'cached', message: 'one', clientMsgId: 'm1' });
    expect(calls.names.filter((n) => n === 'QueryCommand')).toHaveLength(1);
    calls.names.length = 0;
    await perform(a, sender, { action: 'sendmessage', room: 'cached', message: 'two', clientMsgId: 'm2' });
    expect(calls.names.filter((n) => n === 'QueryCommand')).toHaveLength(0);
    expect(messagesTo(f, 'c-bob').map((m) => m.text)).toEqual(['one', 'two']);

    // Carol joins through another container: the version moves, so this one reads again and she is in it.
    await seat(b, carol, 'c-carol', 'cached');
    calls.names.length = 0;
    await perform(a, sender, { action: 'sendmessage', room: 'cached', message: 'three', clientMsgId: 'm3' });
    expect(calls.names.filter((n) => n === 'QueryCommand')).toHaveLength(1);
    expect(messagesTo(f, 'c-carol').map((m) => m.text)).toEqual(['three']);
    expect(messagesTo(f, 'c-bob').map((m) => m.text)).toEqual(['one', 'two', 'three']);
  });

  it('stops delivering to a connection that left through another container', async () => {
    const f = await domainFixture();
    const a = f.deps;
    const b = container(f);
    await ensureRoom(a);
    for (const u of [alice, bob]) await claimName({ db: a.db, table: a.tables.users }, u);
    const { id } = await createRoom(a, alice, { private: true, invite: ['bob'] });
    const sender = await seat(a, alice, 'c-alice', id);
    const bobs = await seat(a, bob, 'c-bob', id);
    await perform(a, sender, { action: 'sendmessage', room: id, message: 'before', clientMsgId: 'm1' });
    await perform(b, bobs, { action: 'leaveroom', room: id });
    await perform(a, sender, { action: 'sendmessage', room: id, message: 'after', clientMsgId: 'm2' });
    expect(messagesTo(f, 'c-bob').map((m) => m.text)).toEqual(['before']);
  });

  it('forgets a recipient API Gateway calls gone, so the next send does not post to it again', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, alice, { id: 'gone', private: false, invite: [] });
    const sender = await seat(f.deps, alice, 'c-alice', 'gone');
    await seat(f.deps, bob, 'c-bob', 'gone');
    await perform(f.deps, sender, { action: 'sendmessage', room: 'gone', message: 'one', clientMsgId: 'm1' });
    f.notifier.gone.add('c-bob');
    f.clock.now += 60_000;
    const tries = () => f.notifier.attempts.filter((id) => id === 'c-bob').length;
    const before = tries();
    await perform(f.deps, sender, { action: 'sendmessage', room: 'gone', message: 'two', clientMsgId: 'm2' });
    expect(tries()).toBe(before + 1);
    await perform(f.deps, sender, { action: 'sendmessage', room: 'gone', message: 'three', clientMsgId: 'm3' });
    expect(tries()).toBe(before + 1);
  });
});

describe('the rate limit', () => {
  it('charges a busy sender one write, not a refused conditional write first', async () => {
    const f = await domainFixture();
    const deps = { ...f.deps, admission: new LocalAdmission() };
    const calls = countCalls(deps);
    const updates = () => calls.names.filter((n) => n === 'UpdateCommand').length;
    admitLocally(deps, alice.userId);
    await consume(deps, alice.userId, BUCKETS.actions);
    expect(updates()).toBe(1);
    // Same instant: the schedule is now ahead of the clock, and this container knows it.
    admitLocally(deps, alice.userId);
    await consume(deps, alice.userId, BUCKETS.actions);
    expect(updates()).toBe(2);
    // Later, idle again: the idle branch goes first again.
    f.clock.now += 10_000;
    admitLocally(deps, alice.userId);
    await consume(deps, alice.userId, BUCKETS.actions);
    expect(updates()).toBe(3);
  });
});

describe('a seq reserved before the send was admitted', () => {
  it('is marked skipped at once when the send is refused, so members never wait on a gap', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, alice, { id: 'refused', private: false, invite: [] });
    const sender = await seat(f.deps, alice, 'c-alice', 'refused');
    await perform(f.deps, sender, { action: 'sendmessage', room: 'refused', message: 'ok', clientMsgId: 'm1' });
    // Spend the rest of alice's budget, as her other sockets would.
    for (let i = 0; i < BUCKETS.actions.burst; i++) await consume(f.deps, alice.userId, BUCKETS.actions).catch(() => undefined);
    expect(await code(perform(f.deps, sender, { action: 'sendmessage', room: 'refused', message: 'no', clientMsgId: 'm2' }))).toBe(
      'rate_limited',
    );
    const page = await history(f.deps, 'refused', { after: 0 });
    expect(page.messages.map((m) => m.text)).toEqual(['ok']);
    expect(page.skipped).toEqual([2]);
  });

  it('answers not_joined, never room_not_found, to a socket that left through another container', async () => {
    const f = await domainFixture();
    const b = container(f);
    await ensureRoom(f.deps);
    for (const u of [alice, bob]) await claimName({ db: f.deps.db, table: f.deps.tables.users }, u);
    const { id } = await createRoom(f.deps, alice, { private: true, invite: ['bob'] });
    await seat(f.deps, alice, 'c-alice', id);
    const bobs = await seat(f.deps, bob, 'c-bob', id);
    await perform(f.deps, bobs, { action: 'sendmessage', room: id, message: 'hi', clientMsgId: 'm1' });
    await perform(b, bobs, { action: 'leaveroom', room: id });
    // This container still thinks bob is in the room, so it reserves at once; membership decides the answer.
    expect(await code(perform(f.deps, bobs, { action: 'sendmessage', room: id, message: 'again', clientMsgId: 'm2' }))).toBe('not_joined');
    const page = await history(f.deps, id, { after: 0 });
    expect(page.messages.map((m) => m.text)).toEqual(['hi']);
    expect(page.skipped).toEqual([2]);
  });
});

describe('exactly once without a transaction', () => {
  async function room(id: string): Promise<DomainFixture> {
    const f = await domainFixture();
    await createRoom(f.deps, alice, { id, private: false, invite: [] });
    return f;
  }
  const reserve = (f: DomainFixture, id: string) =>
    f.deps.db.send(
      new UpdateCommand({
        TableName: f.deps.tables.chat,
        Key: keys.roomMeta(id),
        UpdateExpression: 'SET lastSeq = lastSeq + :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  const claim = (f: DomainFixture, id: string, seq: number) =>
    f.deps.db.send(new PutCommand({ TableName: f.deps.tables.chat, Item: { ...keys.dedup(id, alice.userId, 'cm'), seq } }));

  it('finishes the message of a writer that claimed its key and died, at the seq the key names', async () => {
    const f = await room('died');
    await reserve(f, 'died');
    await claim(f, 'died', 1);
    const retry = await postMessage(f.deps, 'died', alice, 'hello', 'cm');
    expect(retry).toMatchObject({ duplicate: false, message: { seq: 1, text: 'hello' } });
    const again = await postMessage(f.deps, 'died', alice, 'hello', 'cm');
    expect(again).toEqual({ message: retry.message, duplicate: true });
    const page = await history(f.deps, 'died', { after: 0 });
    expect(page.messages.map((m) => [m.seq, m.text])).toEqual([[1, 'hello']]);
    expect(page.skipped).toEqual([2, 3]);
  });

  it('posts again under a fresh seq once the seq the key names was settled as skipped', async () => {
    const f = await room('settled');
    await reserve(f, 'settled');
    await claim(f, 'settled', 1);
    await f.deps.db.send(
      new PutCommand({ TableName: f.deps.tables.chat, Item: { ...keys.message('settled', 1), roomId: 'settled', seq: 1, skipped: true, ts: 0 } }),
    );
    const retry = await postMessage(f.deps, 'settled', alice, 'hello', 'cm');
    expect(retry.duplicate).toBe(false);
    expect(retry.message.seq).toBe(3);
    expect(await postMessage(f.deps, 'settled', alice, 'hello', 'cm')).toEqual({ message: retry.message, duplicate: true });
    const page = await history(f.deps, 'settled', { after: 0 });
    expect(page.messages.map((m) => [m.seq, m.text])).toEqual([[3, 'hello']]);
    expect(page.skipped).toEqual([1, 2, 4]);
  });
});

describe('a first attempt, written in one round', () => {
  it('stores one message however many first attempts share a clientMsgId, and withdraws the rest before anyone sees them', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, alice, { id: 'liar', private: false, invite: [] });
    const tabs = await Promise.all([1, 2, 3].map((i) => seat(f.deps, alice, `tab-${i}`, 'liar')));
    await seat(f.deps, bob, 'c-bob', 'liar');
    // A client that reuses an id without `retry`: the server must still store it once.
    await Promise.all(tabs.map((tab) => perform(f.deps, tab, { action: 'sendmessage', room: 'liar', message: 'same', clientMsgId: 'dup' })));
    await perform(f.deps, tabs[0]!, { action: 'sendmessage', room: 'liar', message: 'same', clientMsgId: 'dup' });
    const acks = tabs.flatMap((t) => ofType(f.notifier.sent.get(t.connectionId) ?? [], 'ack'));
    expect(acks).toHaveLength(4);
    expect(new Set(acks.map((a) => a.id)).size).toBe(1);
    expect(acks.filter((a) => !a.duplicate)).toHaveLength(1);
    expect(messagesTo(f, 'c-bob').map((m) => m.text)).toEqual(['same']);
    const page = await history(f.deps, 'liar', { after: 0 });
    expect(page.messages.map((m) => m.text)).toEqual(['same']);
    expect(page.messages.length + page.skipped.length).toBe(4);
  });

  it('takes the two-round path for a frame marked retry, so an original that landed is answered, not withdrawn', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, alice, { id: 'retry', private: false, invite: [] });
    const tab = await seat(f.deps, alice, 'tab', 'retry');
    await perform(f.deps, tab, { action: 'sendmessage', room: 'retry', message: 'once', clientMsgId: 'r1' });
    const calls = countCalls(f.deps);
    await perform(f.deps, tab, { action: 'sendmessage', room: 'retry', message: 'once', clientMsgId: 'r1', retry: true });
    // The key is tried first and found taken: the message is never written a second time.
    expect(calls.names.filter((n) => n === 'PutCommand')).toHaveLength(2);
    const acks = ofType(f.notifier.sent.get('tab') ?? [], 'ack');
    expect(acks.map((a) => a.duplicate)).toEqual([false, true]);
    expect((await history(f.deps, 'retry', { after: 0 })).messages.map((m) => m.text)).toEqual(['once']);
  });
});

describe('who gets a copy', () => {
  it('sends a named message to the sender only as its ack, and to its other sockets as a message', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    const tab1 = { ...alice, connectionId: 'tab-1' };
    await registerConnection(f.deps, 'tab-1', alice);
    await registerConnection(f.deps, 'tab-2', alice);
    await registerConnection(f.deps, 'c-bob', bob);
    await perform(f.deps, tab1, { action: 'sendmessage', message: 'named', clientMsgId: 'n1' });
    expect(messagesTo(f, 'tab-1')).toEqual([]);
    expect(ofType(f.notifier.sent.get('tab-1') ?? [], 'ack').map((a) => a.clientMsgId)).toEqual(['n1']);
    expect(messagesTo(f, 'tab-2').map((m) => m.text)).toEqual(['named']);
    expect(messagesTo(f, 'c-bob').map((m) => m.text)).toEqual(['named']);
    // The tutorial's frame has no id to match an ack with, so its sender gets the message back as well.
    await perform(f.deps, tab1, { action: 'sendmessage', message: 'tutorial' });
    expect(messagesTo(f, 'tab-1').map((m) => m.text)).toEqual(['tutorial']);
  });
});
