/**
 * Edits and deletes as events in the room's order: each takes a seq of its
 * own, reaches the room live as `change`, is replayed by catch-up and listed
 * by history, while the message itself reads as its latest change left it.
 * Through the real handlers and the local gateway on DynamoDB Local, then the
 * races and budgets at the domain level, where timing can be forced.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { perform, type Caller } from '../amplify/core/chat';
import { registerConnection } from '../amplify/core/connections';
import type { ChatDeps } from '../amplify/core/deps';
import { editMessage } from '../amplify/core/edits';
import { GAP_SETTLE_MS, history, postMessage, reserveSeq, skip } from '../amplify/core/messages';
import { LIMITS, type ClientActionInput, type EventOf, type RoomChange } from '../amplify/core/protocol';
import { createRoom, ensureRoom } from '../amplify/core/rooms';
import { dynamoClient } from '../local/dynamodb';
import type { LocalStack } from '../local/stack';
import { TestClient } from './support/client';
import { code, domainFixture, ofType, RecordingNotifier } from './support/domain';
import { closeStack, testStack } from './support/stack';

let stack: LocalStack;
let db: DynamoDBDocumentClient;
/** The domain on the stack's own tables, to plant what no client can make on purpose (a skip). */
let direct: ChatDeps;
const clients: TestClient[] = [];

beforeAll(async () => {
  stack = await testStack();
  db = DynamoDBDocumentClient.from(dynamoClient(stack.dynamoEndpoint), { marshallOptions: { removeUndefinedValues: true } });
  direct = { db, tables: stack.tables, notifier: new RecordingNotifier(), fanoutConcurrency: 8, homeRegion: 'local', now: () => Date.now() };
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  db?.destroy();
  await closeStack(stack);
});

async function client(user: string): Promise<TestClient> {
  const c = await TestClient.connect(stack.websocketUrl, await stack.token(user));
  clients.push(c);
  return c;
}

/** A public room made by the first client, with the others seated in it. */
async function room(id: string, owner: TestClient, ...others: TestClient[]): Promise<string> {
  expect(await owner.request('joined', { action: 'createroom', room: id })).toMatchObject({ type: 'joined' });
  for (const c of others) expect(await c.request('joined', { action: 'joinroom', room: id })).toMatchObject({ type: 'joined' });
  return id;
}

let msgIds = 0;
async function post(c: TestClient, room: string, message: string): Promise<number> {
  const ack = await c.request('ack', { action: 'sendmessage', room, message, clientMsgId: `e${++msgIds}` });
  if (ack.type !== 'ack') throw new Error(`${ack.code}: ${ack.message}`);
  return ack.seq;
}

const edit = (c: TestClient, room: string, seq: number, message: string) => c.request('change', { action: 'editmessage', room, seq, message });
const del = (c: TestClient, room: string, seq: number) => c.request('change', { action: 'deletemessage', room, seq });

function changed(e: EventOf<'change'> | EventOf<'error'>): EventOf<'change'> {
  if (e.type !== 'change') throw new Error(`expected a change, got ${e.code}: ${e.message}`);
  return e;
}
type EditEvent = Extract<EventOf<'change'>, { kind: 'edit' }>;
const isEdit = (e: EventOf<'change'> | EventOf<'error'>): e is EditEvent => e.type === 'change' && e.kind === 'edit';
function edited(e: EventOf<'change'> | EventOf<'error'>): EditEvent {
  const c = changed(e);
  if (c.kind !== 'edit') throw new Error(`expected an edit, got a ${c.kind}`);
  return c;
}
const refusal = (e: EventOf<'change'> | EventOf<'error'>) => (e.type === 'error' ? e.code : e.type);

async function page(c: TestClient, room: string, q: Omit<ClientActionInput & { action: 'history' }, 'action' | 'room'> = { after: 0 }) {
  const res = await c.request('history', { action: 'history', room, limit: 100, ...q });
  if (res.type !== 'history') throw new Error(res.message);
  return res;
}

/** The change as history lists it: the live event without its envelope. */
const asListed = ({ type: _, reqId: __, ...change }: EventOf<'change'>): RoomChange => change;

/** Barrier: every handler has run and this client's pong follows anything posted to it before. */
async function settle(c: TestClient): Promise<void> {
  await stack.gateway.settled();
  expect((await c.request('pong', { action: 'ping' })).type).toBe('pong');
}

describe('an edit', () => {
  it('reaches the room live as a change with its own seq, after the message; history shows the new text and lists the change', async () => {
    const [alice, alice2, bob] = [await client('ed-alice'), await client('ed-alice'), await client('ed-bob')];
    const id = await room('ed-live', alice, alice2, bob);
    const seq = await post(alice, id, 'helo');
    const original = await bob.next('message', (m) => m.room === id && m.seq === seq);

    const reply = changed(await edit(alice, id, seq, 'hello'));
    expect(reply).toMatchObject({ type: 'change', kind: 'edit', room: id, target: seq, text: 'hello', senderId: original.senderId });
    expect(reply.seq).toBe(seq + 1);
    // Everyone else in the room gets the same change, the sender's other tab included; no reqId but the caller's.
    for (const c of [bob, alice2]) expect(await c.next('change', (e) => e.room === id)).toEqual({ ...reply, reqId: undefined });
    await settle(alice);
    expect(alice.events.filter((e) => e.type === 'change')).toEqual([]);

    const h = await page(bob, id);
    const { type: _, ...message } = original;
    expect(h.messages).toEqual([{ ...message, text: 'hello', editSeq: reply.seq, editedAt: reply.ts }]);
    expect(h.changes).toEqual([asListed(reply)]);
    expect(h.skipped).toEqual([]);
    expect(h.lastSeq).toBe(reply.seq);

    // A second edit: a later seq, and the message reads as the latest one.
    const again = edited(await edit(alice, id, seq, 'hello!'));
    expect(again.seq).toBe(reply.seq + 1);
    expect(await bob.next('change', (e) => e.seq === again.seq)).toEqual({ ...again, reqId: undefined });
    const h2 = await page(bob, id);
    expect(h2.messages.map((m) => [m.seq, m.text, m.editSeq])).toEqual([[seq, 'hello!', again.seq]]);
    expect(h2.changes.map((c) => c.seq)).toEqual([reply.seq, again.seq]);
  });

  it('is replayed by catch-up: history after the last seq seen lists the changes a client missed', async () => {
    const alice = await client('ed-cu-alice');
    let carol = await client('ed-cu-carol');
    const id = await room('ed-catchup', alice, carol);
    const seq = await post(alice, id, 'first draft');
    await carol.next('message', (m) => m.seq === seq);
    await carol.close();

    const e = changed(await edit(alice, id, seq, 'second draft'));
    const later = await post(alice, id, 'and another');
    const d = changed(await del(alice, id, later));

    carol = await client('ed-cu-carol');
    expect(await carol.request('joined', { action: 'joinroom', room: id })).toMatchObject({ type: 'joined' });
    const missed = await page(carol, id, { after: seq });
    expect(missed.changes).toEqual([asListed(e), asListed(d)]);
    // The message after the one carol saw reads as deleted already; the edited one is before the page.
    expect(missed.messages.map((m) => [m.seq, m.text, m.deleted])).toEqual([[later, '', true]]);
    expect(missed.skipped).toEqual([]);
  });
});

describe('a delete', () => {
  it('leaves a tombstone, live and in history, and nothing can change it afterwards', async () => {
    const [alice, bob] = [await client('del-alice'), await client('del-bob')];
    const id = await room('del-room', alice, bob);
    const seq = await post(alice, id, 'oops');
    await bob.next('message', (m) => m.seq === seq);
    const reply = changed(await del(alice, id, seq));
    expect(reply).toMatchObject({ kind: 'delete', room: id, seq: seq + 1, target: seq });
    expect('text' in reply).toBe(false);
    expect(await bob.next('change', (e) => e.room === id)).toEqual({ ...reply, reqId: undefined });

    const h = await page(bob, id);
    expect(h.messages).toHaveLength(1);
    expect(h.messages[0]).toMatchObject({ seq, text: '', deleted: true, editSeq: reply.seq, editedAt: reply.ts });
    expect(h.changes).toEqual([asListed(reply)]);

    // Deleted is final, and a refused change spends no seq.
    expect(refusal(await edit(alice, id, seq, 'undo'))).toBe('message_not_found');
    expect(refusal(await del(alice, id, seq))).toBe('message_not_found');
    const after = await page(bob, id);
    expect(after.lastSeq).toBe(reply.seq);
    expect(after.messages).toEqual(h.messages);
  });
});

describe('who may change what', () => {
  it("refuses another user's edit or delete as forbidden, and nothing changes", async () => {
    const [alice, bob] = [await client('own-alice'), await client('own-bob')];
    const id = await room('own-room', alice, bob);
    const seq = await post(alice, id, 'mine');
    const before = await page(bob, id);
    expect(refusal(await edit(bob, id, seq, 'yours now'))).toBe('forbidden');
    expect(refusal(await del(bob, id, seq))).toBe('forbidden');
    await settle(alice);
    expect(alice.events.filter((e) => e.type === 'change')).toEqual([]);
    const after = await page(bob, id);
    expect(after).toEqual({ ...before, reqId: after.reqId });
    expect(after.messages[0]).not.toHaveProperty('editSeq');
  });

  it('answers message_not_found for a skip, a change, a seq never used, and seq 0', async () => {
    const alice = await client('nf-alice');
    const id = await room('nf-room', alice);
    const seq = await post(alice, id, 'real');
    const skipped = (await reserveSeq(direct, id)).seq;
    await skip(direct, id, skipped);
    const change = changed(await edit(alice, id, seq, 'really'));
    for (const target of [skipped, change.seq, change.seq + 100, 0]) {
      expect(refusal(await edit(alice, id, target, 'x')), `edit ${target}`).toBe('message_not_found');
      expect(refusal(await del(alice, id, target)), `delete ${target}`).toBe('message_not_found');
    }
    const h = await page(alice, id);
    expect(h.lastSeq).toBe(change.seq);
    expect(h.skipped).toEqual([skipped]);
    expect(h.changes.map((c) => c.seq)).toEqual([change.seq]);
  });

  it('answers not_joined to a socket not seated in the room, before looking at the message', async () => {
    const [alice, stranger] = [await client('nj-alice'), await client('nj-stranger')];
    const id = await room('nj-room', alice);
    const seq = await post(alice, id, 'hi');
    // Not seated: refused as a send would be, whatever the target (forbidden or missing) would say.
    expect(refusal(await edit(stranger, id, seq, 'x'))).toBe('not_joined');
    expect(refusal(await del(stranger, id, seq + 50))).toBe('not_joined');
    // A socket of the sender's own that is not in the room is not seated either.
    const elsewhere = await client('nj-alice');
    expect(refusal(await edit(elsewhere, id, seq, 'x'))).toBe('not_joined');
    expect((await page(alice, id)).lastSeq).toBe(seq);
  });

  it('applies the text rules of a send: too long is text_too_long, blank is bad_request', async () => {
    const alice = await client('tx-alice');
    const id = await room('tx-room', alice);
    const seq = await post(alice, id, 'short');
    expect(refusal(await edit(alice, id, seq, 'x'.repeat(LIMITS.maxTextChars + 1)))).toBe('text_too_long');
    expect(refusal(await edit(alice, id, seq, '  \n '))).toBe('bad_request');
    expect(edited(await edit(alice, id, seq, '😀'.repeat(LIMITS.maxTextChars))).text).toHaveLength(2 * LIMITS.maxTextChars);
    const h = await page(alice, id);
    expect(h.lastSeq).toBe(seq + 1);
    expect(h.messages[0]?.text).toBe('😀'.repeat(LIMITS.maxTextChars));
  });
});

describe('the rate limit', () => {
  it('is the one sends use: edits spend it and sends are refused, and the other way round', async () => {
    const alice = await client('rl-alice');
    const id = await room('rl-room', alice);
    const seq = await post(alice, id, 'rate me');
    // The handlers run in this process and read Date.now: held still, no token refills during the test.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 10_000 });
    try {
      // A full burst of edits, then a send is refused.
      for (let i = 0; i < LIMITS.rateBurst; i++) changed(await edit(alice, id, seq, `edit ${i}`));
      const send = await alice.reply({ action: 'sendmessage', room: id, message: 'no room for me', clientMsgId: 'rl-1' });
      expect(send).toMatchObject({ type: 'error', code: 'rate_limited' });
      // Wait long enough for a full burst again: sends spend it, then an edit is refused.
      vi.setSystemTime(Date.now() + 60_000);
      for (let i = 0; i < LIMITS.rateBurst; i++) await post(alice, id, `send ${i}`);
      expect(refusal(await edit(alice, id, seq, 'one too many'))).toBe('rate_limited');
    } finally {
      vi.useRealTimers();
    }
    // Read directly: alice's bucket is spent as of the clock the test moved ahead.
    const h = await history(direct, id, { after: seq, limit: 100 });
    expect(h.changes).toHaveLength(LIMITS.rateBurst);
    expect(h.messages).toHaveLength(LIMITS.rateBurst);
  });
});

describe('concurrent changes of one message', () => {
  it('end with the highest seq applied everywhere: history equals the last applied change, and every seq is accounted for', async () => {
    const [alice, alice2, bob] = [await client('cc-alice'), await client('cc-alice'), await client('cc-bob')];
    const id = await room('cc-room', alice, alice2, bob);
    const seq = await post(alice, id, 'v0');
    const tabs = [alice, alice2];
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => edit(tabs[i % 2]!, id, seq, `v${i + 1}`)));
    const applied = answers.filter(isEdit).sort((a, b) => a.seq - b.seq);
    // A change that lost the race is told so (a retry takes a newer seq); none is lost quietly.
    expect(answers.filter((a) => a.type === 'error').map(refusal).filter((c) => c !== 'unavailable')).toEqual([]);
    expect(applied.length).toBeGreaterThan(0);
    const last = applied[applied.length - 1]!;

    const h = await page(bob, id);
    expect(h.messages.map((m) => [m.seq, m.text, m.editSeq])).toEqual([[seq, last.text, last.seq]]);
    expect(h.changes.map((c) => c.seq)).toEqual(applied.map((a) => a.seq));
    // Every seq the edits took is a change or a skip: nobody waits on a gap.
    expect([...h.changes.map((c) => c.seq), ...h.skipped].sort((a, b) => a - b)).toEqual(Array.from({ length: 8 }, (_, i) => seq + 1 + i));

    // Live, applying each change whose seq is above the message's editSeq ends at the same text.
    await settle(alice);
    const live = ofType(bob.events, 'change').filter((e) => e.room === id);
    expect(live.map((e) => e.seq).sort((a, b) => a - b)).toEqual(applied.map((a) => a.seq));
    let state = { text: 'v0', editSeq: 0 };
    for (const e of live) if (e.kind === 'edit' && e.seq > state.editSeq) state = { text: e.text, editSeq: e.seq };
    expect(state).toEqual({ text: last.text, editSeq: last.seq });
  });
});

// ------------------------------------------------------------------ the domain, where timing can be forced

const alice = { userId: 'u-alice', userName: 'alice' };

async function seated(deps: ChatDeps, room: string, connectionId: string): Promise<Caller> {
  const caller = { ...alice, connectionId };
  await registerConnection(deps, connectionId, alice);
  await perform(deps, caller, { action: 'joinroom', room });
  return caller;
}

describe('an older change that commits after a newer one', () => {
  it('is refused and its seq skipped: the newer text stays', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, alice, { id: 'late', private: false, invite: [] });
    const { message } = await postMessage(f.deps, 'late', alice, 'v0');
    // Hold the first edit's transaction, its seq already reserved, until the second has committed.
    let reached!: () => void;
    let release!: () => void;
    const atTransaction = new Promise<void>((r) => (reached = r));
    const gate = new Promise<void>((r) => (release = r));
    const send = f.deps.db.send.bind(f.deps.db) as (command: unknown) => Promise<unknown>;
    const slow: ChatDeps = {
      ...f.deps,
      db: new Proxy(f.deps.db, {
        get: (target, key, recv) =>
          key === 'send'
            ? async (command: unknown) => {
                if (command instanceof TransactWriteCommand) {
                  reached();
                  await gate;
                }
                return send(command);
              }
            : Reflect.get(target, key, recv),
      }),
    };
    const older = code(editMessage(slow, 'late', alice, message.seq, 'older'));
    await atTransaction;
    const newer = await editMessage(f.deps, 'late', alice, message.seq, 'newer');
    expect(newer.change.seq).toBe(message.seq + 2);
    release();
    expect(await older).toBe('unavailable');
    const page = await history(f.deps, 'late', { after: 0 });
    expect(page.messages.map((m) => [m.text, m.editSeq])).toEqual([['newer', newer.change.seq]]);
    expect(page.changes).toEqual([newer.change]);
    expect(page.skipped).toEqual([message.seq + 1]);
  });
});

describe('history with changes', () => {
  it('counts change items against the byte budget, and pages return each change once', async () => {
    const f = await domainFixture();
    await createRoom(f.deps, alice, { id: 'big', private: false, invite: [] });
    const big = (c: string) => c.repeat(LIMITS.maxTextChars);
    const seqs: number[] = [];
    for (const c of ['a', 'b', 'c', 'd']) seqs.push((await postMessage(f.deps, 'big', alice, big('😀').slice(2) + c)).message.seq);
    for (const s of seqs) await editMessage(f.deps, 'big', alice, s, big('😃'));
    const pages = [];
    let after = 0;
    for (let i = 0; i < 10; i++) {
      const p = await history(f.deps, 'big', { after, limit: 100 });
      pages.push(p);
      const seen = [...p.messages.map((m) => m.seq), ...p.changes.map((c) => c.seq), ...p.skipped];
      const event = { type: 'history', room: 'big', ...p, lastSeq: 8 };
      expect(new TextEncoder().encode(JSON.stringify(event)).length).toBeLessThanOrEqual(LIMITS.replyBudgetBytes + 200);
      if (!p.hasMore) break;
      after = Math.max(...seen);
    }
    // Eight items of about 16 KB each pass one reply's budget: at least two pages.
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flatMap((p) => p.changes.map((c) => c.target))).toEqual(seqs);
    expect(pages.flatMap((p) => p.messages.map((m) => m.editSeq))).toEqual([5, 6, 7, 8]);
  });

  it('settles a dead writer’s gap below a change as it does below a message: the change fills its own seq', async () => {
    const f = await domainFixture();
    await createRoom(f.deps, alice, { id: 'gap', private: false, invite: [] });
    const { message } = await postMessage(f.deps, 'gap', alice, 'hello');
    await reserveSeq(f.deps, 'gap'); // a writer that died: seq 2 never written
    const { change } = await editMessage(f.deps, 'gap', alice, message.seq, 'hello!');
    expect(change.seq).toBe(3);
    // Young: the gap may still be a live writer's, so it is not settled.
    for (const q of [{ after: 0 }, {}]) {
      const p = await history(f.deps, 'gap', q);
      expect([p.messages.map((m) => m.seq), p.changes.map((c) => c.seq), p.skipped]).toEqual([[1], [3], []]);
    }
    f.clock.now += GAP_SETTLE_MS + 1;
    for (const q of [{ after: 0 }, {}, { before: 4 }]) {
      const p = await history(f.deps, 'gap', q);
      expect([p.messages.map((m) => m.seq), p.changes.map((c) => c.seq), p.skipped]).toEqual([[1], [3], [2]]);
    }
    // Paging back from the change: the item at `before` settles the gap below it.
    const below = await history(f.deps, 'gap', { before: 3 });
    expect([below.messages.map((m) => m.seq), below.skipped]).toEqual([[1], [2]]);
  });

  it('answers a retried send of a message edited since as a duplicate at its own seq', async () => {
    const f = await domainFixture();
    await ensureRoom(f.deps);
    await createRoom(f.deps, alice, { id: 'dedup', private: false, invite: [] });
    const tab = await seated(f.deps, 'dedup', 'tab');
    await perform(f.deps, tab, { action: 'sendmessage', room: 'dedup', message: 'first', clientMsgId: 'k1' });
    await perform(f.deps, tab, { action: 'editmessage', room: 'dedup', seq: 1, message: 'edited' });
    await perform(f.deps, tab, { action: 'sendmessage', room: 'dedup', message: 'first', clientMsgId: 'k1', retry: true });
    const acks = ofType(f.notifier.of('tab'), 'ack');
    expect(acks.map((a) => [a.seq, a.duplicate])).toEqual([
      [1, false],
      [1, true],
    ]);
    const page = await history(f.deps, 'dedup', { after: 0 });
    expect(page.messages.map((m) => [m.seq, m.text])).toEqual([[1, 'edited']]);
    expect(page.changes.map((c) => c.seq)).toEqual([2]);
    expect(page.skipped).toEqual([3]);
  });
});
