/** The domain modules called directly, against DynamoDB Local. */
import { describe, expect, it, beforeAll } from 'vitest';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { connect, disconnect, perform } from '../amplify/core/chat';
import { getConnection, registerConnection, roomConnections } from '../amplify/core/connections';
import { forEachLimit } from '../amplify/core/fanout';
import { keys } from '../amplify/core/keys';
import { GAP_SETTLE_MS, history, postMessage } from '../amplify/core/messages';
import { LIMITS, ProtocolError } from '../amplify/core/protocol';
import { admit, BUCKETS, consume, gcra, Refused } from '../amplify/core/ratelimit';
import { CONNECT_WINDOW_MS } from '../amplify/core/connections';
import { createRoom, ensureRoom, listRooms, accessibleRoom } from '../amplify/core/rooms';
import { claimName } from '../amplify/core/users';
import { announceRoom } from '../amplify/core/membership';
import { code, domainFixture, ofType, type DomainFixture } from './support/domain';

const alice = { userId: 'u-alice', userName: 'alice' };
const bob = { userId: 'u-bob', userName: 'bob' };
const eve = { userId: 'u-eve', userName: 'eve' };


describe('messages', () => {
  let f: DomainFixture;
  beforeAll(async () => {
    f = await domainFixture();
    await ensureRoom(f.deps);
  });

  it('gives concurrent senders gapless, strictly increasing seqs', async () => {
    await createRoom(f.deps, alice, { id: 'race', private: false, invite: [] });
    const posted = await Promise.all(Array.from({ length: 25 }, (_, i) => postMessage(f.deps, 'race', i % 2 ? alice : bob, `m${i}`)));
    const seqs = posted.map((p) => p.message.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const page = await history(f.deps, 'race', { after: 0, limit: 100 });
    expect(page.messages.map((m) => m.seq)).toEqual(seqs);
    expect(new Set(page.messages.map((m) => m.text)).size).toBe(25);
  });

  it('stores a retried clientMsgId once and answers with the original', async () => {
    await createRoom(f.deps, alice, { id: 'idem', private: false, invite: [] });
    const first = await postMessage(f.deps, 'idem', alice, 'hello', 'cmid-1');
    const again = await postMessage(f.deps, 'idem', alice, 'hello', 'cmid-1');
    const racing = await Promise.all([1, 2, 3].map(() => postMessage(f.deps, 'idem', alice, 'race', 'cmid-2')));
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ message: first.message, duplicate: true });
    expect(racing.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(racing.map((r) => r.message.id)).size).toBe(1);
    // The same id from another user is a different message.
    const bobs = await postMessage(f.deps, 'idem', bob, 'mine', 'cmid-1');
    expect(bobs.duplicate).toBe(false);
    const all = await history(f.deps, 'idem', { after: 0 });
    expect(all.messages.map((m) => m.text)).toEqual(['hello', 'race', 'mine']);
    // Retries that raced their original burned a seq each; those are reported, not left as gaps.
    const seen = [...all.messages.map((m) => m.seq), ...all.skipped].sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
  });

  it('pages history back from the newest and forward from a seq', async () => {
    await createRoom(f.deps, alice, { id: 'pages', private: false, invite: [] });
    for (let i = 1; i <= 120; i++) await postMessage(f.deps, 'pages', alice, `n${i}`);
    const newest = await history(f.deps, 'pages', {});
    expect(newest.messages.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 71 + i));
    expect(newest.hasMore).toBe(true);
    const older = await history(f.deps, 'pages', { before: 71, limit: 60 });
    expect(older.messages[0]?.seq).toBe(11);
    expect(older.messages.at(-1)?.seq).toBe(70);
    const oldest = await history(f.deps, 'pages', { before: 11 });
    expect(oldest.messages.map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(oldest.hasMore).toBe(false);
    const forward = await history(f.deps, 'pages', { after: 100, limit: 10 });
    expect(forward.messages.map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 101 + i));
    expect(forward.hasMore).toBe(true);
    const tail = await history(f.deps, 'pages', { after: 115 });
    expect(tail.messages.map((m) => m.seq)).toEqual([116, 117, 118, 119, 120]);
    expect(tail.hasMore).toBe(false);
    expect((await history(f.deps, 'pages', { before: 1 })).messages).toEqual([]);
  });

  it('settles a gap left by a writer that died, but only once it is old', async () => {
    await createRoom(f.deps, alice, { id: 'crash', private: false, invite: [] });
    await postMessage(f.deps, 'crash', alice, 'before');
    // A writer reserves seq 2 and dies before storing it.
    await f.deps.db.send(
      new UpdateCommand({
        TableName: f.deps.tables.chat,
        Key: keys.roomMeta('crash'),
        UpdateExpression: 'SET lastSeq = lastSeq + :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    await postMessage(f.deps, 'crash', alice, 'after');
    const fresh = await history(f.deps, 'crash', { after: 0 });
    expect(fresh.messages.map((m) => m.seq)).toEqual([1, 3]);
    expect(fresh.skipped).toEqual([]);
    f.clock.now += GAP_SETTLE_MS + 1000;
    const settled = await history(f.deps, 'crash', { after: 0 });
    expect(settled.skipped).toEqual([2]);
    expect((await history(f.deps, 'crash', { after: 1 })).skipped).toEqual([2]);
    f.clock.now -= GAP_SETTLE_MS + 1000;
  });

  it('refuses to post to a room that does not exist', async () => {
    expect(await code(postMessage(f.deps, 'nowhere', alice, 'x'))).toBe('room_not_found');
  });
});

describe('rooms', () => {
  let f: DomainFixture;
  beforeAll(async () => {
    f = await domainFixture();
    await Promise.all([alice, bob, eve].map((u) => claimName({ db: f.deps.db, table: f.deps.tables.users }, u)));
  });

  it('lets only members see a private room, and hides it from strangers', async () => {
    const { id: secret } = await createRoom(f.deps, alice, { name: 'Secret', private: true, invite: ['BOB'] });
    expect(secret).toMatch(/^p[0-9a-f]{30}$/);
    await createRoom(f.deps, alice, { id: 'open', private: false, invite: [] });
    expect((await accessibleRoom(f.deps, secret, bob.userId)).name).toBe('Secret');
    expect(await code(accessibleRoom(f.deps, secret, eve.userId))).toBe('room_not_found');
    expect((await listRooms(f.deps, bob.userId)).rooms.map((r) => r.id)).toContain(secret);
    const evesRooms = (await listRooms(f.deps, eve.userId)).rooms.map((r) => r.id);
    expect(evesRooms).toContain('open');
    expect(evesRooms).not.toContain(secret);
  });

  it('rejects duplicates and unknown invitees without writing anything', async () => {
    expect(await code(createRoom(f.deps, bob, { id: 'open', private: false, invite: [] }))).toBe('room_exists');
    const before = (await listRooms(f.deps, bob.userId)).rooms.length;
    expect(await code(createRoom(f.deps, bob, { name: 'Ghosts', private: true, invite: ['casper'] }))).toBe('unknown_user');
    expect((await listRooms(f.deps, bob.userId)).rooms).toHaveLength(before);
  });

  it('keeps the first claim on a name, whatever its case or look-alike spelling', async () => {
    const registry = { db: f.deps.db, table: f.deps.tables.users };
    expect(await claimName(registry, { userId: 'u-impostor', userName: 'Alice' })).toBe('taken');
    expect(await claimName(registry, { userId: 'u-impostor', userName: 'AL1CE' })).toBe('taken');
    expect(await claimName(registry, { userId: 'u-impostor', userName: 'аlice' })).toBe('invalid');
    expect(await claimName(registry, alice)).toBe('claimed');
  });
});

describe('rate limit', () => {
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => ({ ok: true as const }),
      (err: unknown) => {
        if (err instanceof ProtocolError && err.code === 'rate_limited') return { ok: false as const, retryAfterMs: err.details.retryAfterMs ?? 0 };
        throw err;
      },
    );

  it('admits a burst, then refuses with a retry hint, then recovers at the sustained rate', async () => {
    const f = await domainFixture();
    await registerConnection(f.deps, 'c1', alice);
    const results = [];
    for (let i = 0; i < 21; i++) results.push(await outcome(admit(f.deps, alice.userId, 'c1')));
    expect(results.slice(0, 20).every((r) => r.ok)).toBe(true);
    const refused = results[20]!;
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.retryAfterMs).toBeGreaterThan(0);
    // The clock is the test's: the next token is exactly one interval (100 ms) away.
    expect(!refused.ok && refused.retryAfterMs).toBe(100);
    f.clock.now += 100;
    expect((await outcome(admit(f.deps, alice.userId, 'c1'))).ok).toBe(true);
    expect((await outcome(admit(f.deps, alice.userId, 'c1'))).ok).toBe(false);
    f.clock.now += 5000;
    const concurrent = await Promise.all(Array.from({ length: 30 }, () => outcome(admit(f.deps, alice.userId, 'c1'))));
    expect(concurrent.filter((r) => r.ok)).toHaveLength(20);
  });

  it('keeps the table\'s bucket and the in-memory GCRA in step, take by take', async () => {
    const f = await domainFixture();
    let tat: number | undefined;
    const seen = new Set<string>();
    // Invitations take several tokens at once; gaps from none to a full refill (5 min) cross both branches of the table's update.
    for (let i = 0; i < 60; i++) {
      f.clock.now += [0, 0, 40, 700, 3000, 300_000][i % 6]!;
      const cost = [1, 5, 12, 20][i % 4]!;
      const expected = gcra(tat, f.clock.now, BUCKETS.invites, cost);
      const got = await consume(f.deps, alice.userId, BUCKETS.invites, cost).then(
        () => 'ok' as const,
        (err: unknown) => (err instanceof Refused ? err.retryAfterMs : Promise.reject(err)),
      );
      expect(got, `take ${i}`).toEqual('next' in expected ? 'ok' : expected.waitMs);
      if ('next' in expected) tat = expected.next;
      seen.add('next' in expected ? 'taken' : 'refused');
    }
    expect([...seen].sort()).toEqual(['refused', 'taken']);
  });

  it('shares one budget across all of a user\'s sockets', async () => {
    const f = await domainFixture();
    const sockets = ['s1', 's2', 's3', 's4'];
    for (const s of sockets) await registerConnection(f.deps, s, alice);
    await registerConnection(f.deps, 'b1', bob);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => outcome(admit(f.deps, alice.userId, sockets[i % 4]!))));
    expect(results.filter((r) => r.ok)).toHaveLength(LIMITS.rateBurst);
    // Someone else's budget is untouched.
    expect((await outcome(admit(f.deps, bob.userId, 'b1'))).ok).toBe(true);
  });

  it('answers no connection for one it does not know', async () => {
    const f = await domainFixture();
    expect(await admit(f.deps, alice.userId, 'nobody')).toBeUndefined();
  });
});

describe('connections and fan-out', () => {
  it('ignores expired rows, which TTL has not swept yet', async () => {
    const f = await domainFixture();
    await registerConnection(f.deps, 'old', alice);
    f.clock.now += 3 * 60 * 60 * 1000;
    await registerConnection(f.deps, 'new', bob);
    expect(await getConnection(f.deps, 'old')).toBeUndefined();
    expect((await roomConnections(f.deps, 'lobby')).map((c) => c.connectionId)).toEqual(['new']);
  });

  it('prunes a gone recipient with all its rooms, and not the sender, once it is past the $connect window', async () => {
    const f = await domainFixture();
    await connect(f.deps, { ...alice, connectionId: 'a1' });
    await connect(f.deps, { ...bob, connectionId: 'b1' });
    await perform(f.deps, { ...bob, connectionId: 'b1' }, { action: 'createroom', room: 'side', private: false, invite: [] });
    f.notifier.gone.add('b1');
    // Young: a 410 may only mean its $connect has not finished, so it stays.
    await perform(f.deps, { ...alice, connectionId: 'a1' }, { action: 'sendmessage', message: 'anyone?' });
    expect(await getConnection(f.deps, 'b1')).toBeDefined();
    expect((await roomConnections(f.deps, 'side')).map((c) => c.connectionId)).toEqual(['b1']);
    f.clock.now += CONNECT_WINDOW_MS + 1;
    await perform(f.deps, { ...alice, connectionId: 'a1' }, { action: 'sendmessage', message: 'anyone now?' });
    expect(await getConnection(f.deps, 'b1')).toBeUndefined();
    expect(await roomConnections(f.deps, 'side')).toEqual([]);
    expect(await getConnection(f.deps, 'a1')).toBeDefined();
    expect(ofType(f.notifier.of('a1'), 'ack')).toHaveLength(2);
  });

  it('keeps at most the configured number of posts in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    await forEachLimit(Array.from({ length: 200 }, (_, i) => i), 16, async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
    });
    expect(peak).toBe(16);
  });

  it('delivers to every connection of a big room with bounded concurrency', async () => {
    const f = await domainFixture({ latencyMs: 5, fanoutConcurrency: 32 });
    await ensureRoom(f.deps);
    for (let i = 0; i < 150; i++) await registerConnection(f.deps, `m${i}`, { userId: `u${i}`, userName: `user${i}` });
    await perform(f.deps, { userId: 'u0', userName: 'user0', connectionId: 'm0' }, { action: 'sendmessage', message: 'hi all' });
    const received = [...f.notifier.sent.values()].filter((events) => events.some((e) => e.type === 'message'));
    expect(received).toHaveLength(150);
    // The fan-out keeps to its limit; the sender's ack travels beside it.
    expect(f.notifier.maxInFlight).toBeLessThanOrEqual(32 + 1);
  });
});

describe('chat actions', () => {
  it('announces presence once per user, not per tab', async () => {
    const f = await domainFixture();
    await connect(f.deps, { ...alice, connectionId: 'a1' });
    await connect(f.deps, { ...bob, connectionId: 'b1' });
    await connect(f.deps, { ...bob, connectionId: 'b2' });
    const joins = ofType(f.notifier.of('a1'), 'presence').filter((p) => p.event === 'join');
    expect(joins.map((p) => p.user.name)).toEqual(['bob']);
    expect(joins[0]?.members.map((m) => m.name)).toEqual(['alice', 'bob']);
    await disconnect(f.deps, 'b1');
    expect(ofType(f.notifier.of('a1'), 'presence').filter((p) => p.event === 'leave')).toHaveLength(0);
    await disconnect(f.deps, 'b2');
    const leaves = ofType(f.notifier.of('a1'), 'presence').filter((p) => p.event === 'leave');
    expect(leaves.map((p) => [p.user.name, p.members.map((m) => m.name)])).toEqual([['bob', ['alice']]]);
  });

  it('stops broadcasting joins in a big room, and caps the member list it sends', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    const crowd = LIMITS.presenceMax + 5;
    for (let i = 0; i < crowd; i++) await registerConnection(f.deps, `c${i}`, { userId: `u${i}`, userName: `user${i}` });
    await registerConnection(f.deps, 'a1', alice, 'elsewhere');
    await perform(f.deps, { ...alice, connectionId: 'a1' }, { action: 'joinroom', room: 'lobby' });
    const joined = ofType(f.notifier.of('a1'), 'joined')[0];
    expect(joined?.members).toHaveLength(LIMITS.presenceMax);
    expect(joined?.memberCount).toBe(crowd + 1);
    expect(ofType(f.notifier.of('c0'), 'presence')).toEqual([]);
  });

  it('requires joining before posting or typing', async () => {
    const f = await domainFixture();
    await connect(f.deps, { ...alice, connectionId: 'a1' });
    await createRoom(f.deps, bob, { id: 'elsewhere', private: false, invite: [] });
    const caller = { ...alice, connectionId: 'a1' };
    expect(await code(perform(f.deps, caller, { action: 'sendmessage', message: 'x', room: 'elsewhere' }))).toBe('not_joined');
    expect(await code(perform(f.deps, caller, { action: 'typing', room: 'elsewhere' }))).toBe('not_joined');
    await perform(f.deps, caller, { action: 'joinroom', room: 'elsewhere' });
    await perform(f.deps, caller, { action: 'sendmessage', message: 'now I can' });
    const ack = ofType(f.notifier.of('a1'), 'ack')[0];
    // The tutorial form posts to the room joined last.
    expect(ack?.room).toBe('elsewhere');
  });
});

describe('roomcreated', () => {
  let f: DomainFixture;
  beforeAll(async () => {
    f = await domainFixture();
    await ensureRoom(f.deps);
  });

  const told = (room: string) =>
    [...f.notifier.sent.entries()].filter(([, events]) => events.some((e) => e.type === 'roomcreated' && e.room.id === room)).map(([id]) => id);

  it('reaches everyone in the lobby up to presenceMax people, and nobody past it (one post per socket per new room would slow every send)', async () => {
    const people = Array.from({ length: LIMITS.presenceMax + 1 }, (_, i) => ({ userId: `u-lobby-${i}`, userName: `lobby${i}` }));
    await forEachLimit(people.slice(0, LIMITS.presenceMax), 16, (p) => registerConnection(f.deps, `c-${p.userId}`, { ...p, tokenExp: Date.now() / 1000 + 3600 }).then(() => undefined));
    await announceRoom(f.deps, await createRoom(f.deps, alice, { id: 'at-the-cap', private: false, invite: [] }));
    expect(told('at-the-cap')).toHaveLength(LIMITS.presenceMax);

    const last = people[LIMITS.presenceMax]!;
    await registerConnection(f.deps, `c-${last.userId}`, { ...last, tokenExp: Date.now() / 1000 + 3600 });
    await announceRoom(f.deps, await createRoom(f.deps, alice, { id: 'past-the-cap', private: false, invite: [] }));
    expect(told('past-the-cap')).toEqual([]);
    // Still listed for whoever asks.
    expect((await listRooms(f.deps, alice.userId)).rooms.map((r) => r.id)).toContain('past-the-cap');
  }, 60_000);
});
