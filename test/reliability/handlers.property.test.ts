/**
 * Property: whatever valid action a user sends, the real handlers answer it
 * with a typed reply. Arbitrary actions that pass the schema (every action,
 * edge numbers, maximum lengths, unicode text up to the limit, public and
 * private createroom with invitees known and unknown, history of rooms that
 * do and do not exist, leaving rooms never joined, typing) go through the
 * local API Gateway to the real Lambda handlers on DynamoDB Local, from four
 * users at once. No reply may be an `internal` error, no frame may be API
 * Gateway's own untyped "Internal server error", and no handler may log an
 * internal failure. Typed refusals (rate_limited, room_not_found, not_joined,
 * unknown_user, …) are answers, and fine.
 *
 * Seeded by fast-check; on failure it prints the seed, and HANDLERS_SEED=<n>
 * replays it. The sequence is stateful (rooms, joins, rate buckets), so
 * failures are reported as found, not shrunk.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { ERROR_CODES, LIMITS, messageTextProblem, parseAction, roomNameProblem, type ServerEvent } from '../../amplify/core/protocol';
import type { LocalStack } from '../../local/stack';
import { TestClient } from '../support/client';
import { testStack } from '../support/stack';

const USERS = ['hp-ann', 'hp-bea', 'hp-cal', 'hp-dee'];
const UNKNOWN_NAMES = ['hp-ghost', 'nobody-here', 'Z', 'x'.repeat(32), 'a.b-c_d'];
const RUNS = 5;
const STEPS_PER_RUN = 36;
/**
 * Each user stays under the 10 actions/s it may sustain, so the test measures
 * the handlers, not the limiter. The pause runs from the previous answer, not
 * the previous send: a socket told `rate_limited` is not told again for 100 ms
 * (frames in between go unanswered, by design, as flood control), so two
 * refusals must never land closer than that.
 */
const PACE_MS = 110;
/** Typing has no answer to wait for; its possible refusal is given this long to land before the user's next action. */
const TYPING_SETTLE_MS = 50;

// Room events reach sockets unasked: a new public room (roomcreated, to the lobby), an invitation or a join elsewhere (roomadded), a leave elsewhere (roomremoved).
const SERVER_TYPES = new Set([
  'message', 'ack', 'joined', 'left', 'presence', 'typing', 'history', 'rooms', 'pong', 'error',
  'synced', 'read', 'roomadded', 'roomremoved', 'roomcreated', 'change',
]);
const TYPED_ERRORS = new Set<string>(ERROR_CODES.filter((c) => c !== 'internal'));

// ------------------------------------------------------------ generators

/** A room: the lobby, one seen earlier in the run (resolved when sent), or any id at all (mostly rooms that do not exist). */
type RoomRef = { seen: number } | { id: string };
const roomRef: fc.Arbitrary<RoomRef> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ id: 'lobby' }) },
  { weight: 4, arbitrary: fc.nat().map((seen) => ({ seen })) },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,31}$/).map((id) => ({ id })) },
  { weight: 1, arbitrary: fc.constantFrom('a'.repeat(32), '0', 'z-_', 'p'.repeat(31)).map((id) => ({ id })) },
);

/** The server's own rule for message text, length included. */
const validText = (s: string) => messageTextProblem(s) === undefined;
/** The biggest messages there are: a room of these is what a history page must not choke on. */
const BIG_TEXTS = [
  '😀'.repeat(LIMITS.maxTextChars),
  'x'.repeat(LIMITS.maxTextChars),
  '"'.repeat(LIMITS.maxTextChars),
  '👨‍👩‍👧'.repeat(LIMITS.maxTextChars / 5),
];
const TEXT_UNITS = ['a', 'Z', '😀', 'ب', 'ש', '字', ' ', '\n', '\t', '\u200B', '\u200D', '\uFE0F', '"', '\\', '<'];
const text = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...TEXT_UNITS), minLength: 1, maxLength: LIMITS.maxTextChars }) },
    { weight: 3, arbitrary: fc.constantFrom(...BIG_TEXTS) },
    { weight: 1, arbitrary: fc.constantFrom('مرحبا بالعالم\nשלום עולם\t!', '<script>alert(1)</script>') },
  )
  .filter(validText);

const roomName = fc
  .oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), fc.constantFrom('x'.repeat(64), '🦜'.repeat(32), 'نادي الكتاب'))
  .filter((s) => s.trim().length > 0 && s.trim().length <= 64 && roomNameProblem(s.trim()) === undefined);

/** Mostly the edges: the ends of the safe integers and of the 12-digit seq keys. */
const seq = fc.oneof(
  { weight: 2, arbitrary: fc.constant(Number.MAX_SAFE_INTEGER) },
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 2, 3, 50, 10 ** 12 - 1, 10 ** 12, 10 ** 12 + 1, Number.MAX_SAFE_INTEGER - 1) },
  { weight: 1, arbitrary: fc.nat({ max: 1000 }) },
  { weight: 1, arbitrary: fc.maxSafeNat() },
);
const invitee = fc.oneof(fc.constantFrom(...USERS, ...UNKNOWN_NAMES), fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,30}[A-Za-z0-9])?$/));
const clientMsgId = fc.oneof(fc.constantFrom('c1', 'c2', 'k'.repeat(64)), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/));
const cursor = fc.oneof(fc.constantFrom('m:', 'p:', 'p:lobby', 'm:zzz', 'p:' + 'a'.repeat(32)), fc.string({ minLength: 1, maxLength: LIMITS.maxCursorChars }));

/** An action before its rooms are resolved; `room` fields hold a RoomRef. */
type Draft = Record<string, unknown>;
const opt = <T,>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const draft: fc.Arbitrary<Draft> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ action: fc.constant('sendmessage'), message: text, room: opt(roomRef), clientMsgId: opt(clientMsgId) }) },
  { weight: 3, arbitrary: fc.record({ action: fc.constant('joinroom'), room: roomRef }) },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('leaveroom'), room: roomRef }) },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('typing'), room: roomRef }) },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('createroom'), room: roomRef, name: opt(roomName), private: opt(fc.constant(false)) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      action: fc.constant('createroom'),
      private: fc.constant(true),
      name: roomName,
      invite: opt(fc.oneof(fc.array(invitee, { maxLength: 4 }), fc.array(invitee, { minLength: LIMITS.maxInvites, maxLength: LIMITS.maxInvites }))),
    }),
  },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('listrooms'), cursor: opt(fc.oneof(cursor, fc.constant('seen'))) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      action: fc.constant('history'),
      room: roomRef,
      page: fc.constantFrom('after', 'before', 'none'),
      at: seq,
      limit: opt(fc.oneof(fc.constantFrom(1, LIMITS.historyPageMax), fc.integer({ min: 1, max: LIMITS.historyPageMax }))),
    }),
  },
  { weight: 1, arbitrary: fc.record({ action: fc.constant('ping') }) },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('sync'), cursor: opt(fc.oneof(cursor, fc.constantFrom('m:', 'm:zzz'))) }) },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('read'), room: roomRef, seq }) },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('opendm'), user: invitee }) },
  // Small seqs often name real messages, the user's own or someone else's.
  { weight: 2, arbitrary: fc.record({ action: fc.constant('editmessage'), room: roomRef, seq, message: text }) },
  { weight: 2, arbitrary: fc.record({ action: fc.constant('deletemessage'), room: roomRef, seq }) },
);
/** Action names match case-insensitively (the tutorial writes sendMessage), so some go out in mixed case. */
const step = fc.record({ who: fc.nat(USERS.length - 1), draft, shout: fc.boolean(), longReqId: fc.boolean() });

/** Run first, every time: the edges a random run may miss. */
const EDGE_TOUR: { who: number; draft: Draft; shout: boolean; longReqId: boolean }[] = [
  { action: 'history', room: { id: 'lobby' }, page: 'after', at: Number.MAX_SAFE_INTEGER },
  { action: 'history', room: { id: 'lobby' }, page: 'before', at: Number.MAX_SAFE_INTEGER, limit: 100 },
  { action: 'history', room: { id: 'lobby' }, page: 'after', at: 10 ** 12 },
  { action: 'history', room: { id: 'nowhere' }, page: 'after', at: 0 },
  // About 170 KB of the largest messages in one room: more than one reply can carry.
  ...[1, 2].flatMap(() => BIG_TEXTS.map((message) => ({ action: 'sendmessage', message, room: { id: 'lobby' } }))),
  ...[1, 2].flatMap(() => BIG_TEXTS.map((message) => ({ action: 'sendmessage', message }))),
  { action: 'history', room: { id: 'lobby' }, page: 'none', at: 0, limit: 100 },
  { action: 'history', room: { id: 'lobby' }, page: 'after', at: 0, limit: 100 },
  { action: 'leaveroom', room: { id: 'never-joined' } },
  { action: 'typing', room: { id: 'never-joined' } },
  { action: 'typing', room: { id: 'lobby' } },
  { action: 'createroom', private: true, name: 'x'.repeat(64), invite: [...UNKNOWN_NAMES] },
  { action: 'createroom', private: true, name: '🦜'.repeat(32), invite: [USERS[1], USERS[2], USERS[2]] },
  { action: 'createroom', room: { id: 'a'.repeat(32) }, name: 'x'.repeat(64) },
  { action: 'listrooms', cursor: 'p:' },
  { action: 'listrooms', cursor: 'm:' + 'z'.repeat(32) },
  { action: 'listrooms' },
  { action: 'sync' },
  { action: 'sync', cursor: 'm:' + 'z'.repeat(32) },
  { action: 'read', room: { id: 'lobby' }, seq: Number.MAX_SAFE_INTEGER },
  { action: 'read', room: { id: 'lobby' }, seq: 0 },
  { action: 'opendm', user: USERS[1] },
  { action: 'opendm', user: USERS[0] },
  { action: 'editmessage', room: { id: 'lobby' }, seq: 1, message: 'edited' },
  { action: 'editmessage', room: { id: 'lobby' }, seq: 2, message: BIG_TEXTS[0] },
  { action: 'deletemessage', room: { id: 'lobby' }, seq: 1 },
  { action: 'deletemessage', room: { id: 'lobby' }, seq: Number.MAX_SAFE_INTEGER },
  { action: 'ping' },
].map((draft, i) => ({ who: i % USERS.length, draft, shout: i % 3 === 0, longReqId: i % 2 === 0 }));

// ------------------------------------------------------------ the stack and its users

let stack: LocalStack;
const clients: TestClient[] = [];
const seenRooms: string[] = ['lobby'];
const seenCursors: string[] = [];
let reqCounter = 0;

interface User {
  name: string;
  token: string;
  client: TestClient;
  /** When the user's last action was answered (or, for typing, sent plus TYPING_SETTLE_MS). */
  lastDoneAt: number;
}
const users: User[] = [];

async function connect(u: Pick<User, 'token'>): Promise<TestClient> {
  const c = await TestClient.connect(stack.websocketUrl, u.token);
  clients.push(c);
  return c;
}

function resolve(d: Draft): Record<string, unknown> {
  const room = (r: unknown): string | undefined => {
    if (r === undefined) return undefined;
    const ref = r as RoomRef;
    return 'id' in ref ? ref.id : seenRooms[ref.seen % seenRooms.length];
  };
  const { action } = d;
  if (action === 'history') {
    const { page, at, limit } = d as { page: string; at: number; limit?: number };
    return { action, room: room(d.room), ...(page === 'none' ? {} : { [page]: at }), ...(limit === undefined ? {} : { limit }) };
  }
  if (action === 'listrooms') {
    const c = d.cursor === 'seen' ? seenCursors[reqCounter % Math.max(seenCursors.length, 1)] : (d.cursor as string | undefined);
    return { action, ...(c === undefined ? {} : { cursor: c }) };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) if (v !== undefined) out[k] = k === 'room' ? room(v) : v;
  return out;
}

const shouted = (name: string) => name.replace(/(room|message)$/, (w) => w[0]!.toUpperCase() + w.slice(1));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Finding {
  user: string;
  action: Record<string, unknown>;
  reply: unknown;
}
const findings: Finding[] = [];
const tally = new Map<string, number>();
const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);
const brief = (x: unknown) => {
  const s = JSON.stringify(x);
  return s.length > 400 ? `${s.slice(0, 400)}… (${s.length} chars)` : s;
};

/** Sends one action as `u` and checks what comes back. */
async function perform(u: User, s: { draft: Draft; shout: boolean; longReqId: boolean }): Promise<void> {
  const action = resolve(s.draft);
  // The generators make valid actions; a miss here is a bug in this test, not in Parley.
  expect(() => parseAction(JSON.stringify(action)), brief(action)).not.toThrow();
  const reqId = `hp${++reqCounter}-`.padEnd(s.longReqId ? 64 : 0, 'r');
  const frame = { ...action, action: s.shout ? shouted(String(action.action)) : action.action, reqId };
  const wait = u.lastDoneAt + PACE_MS - Date.now();
  if (wait > 0) await pause(wait);
  if (u.client.ws.readyState !== u.client.ws.OPEN) {
    // session_lost and token_expired close the socket by design; a client reconnects.
    u.client = await connect(u);
    count('reconnect');
  }
  if (action.action === 'typing') {
    // Typing has no reply when it works; a refusal comes back by reqId and is checked with the leftovers at the end.
    u.client.send(frame);
    u.lastDoneAt = Date.now() + TYPING_SETTLE_MS;
    count('typing (sent)');
    return;
  }
  let reply: ServerEvent;
  try {
    reply = await u.client.reply(frame as never, 15_000);
    u.lastDoneAt = Date.now();
  } catch (err) {
    findings.push({ user: u.name, action, reply: `no reply: ${String(err).slice(0, 200)}` });
    return;
  }
  count(reply.type === 'error' ? `error ${reply.code}` : reply.type);
  if (reply.type === 'error' && !TYPED_ERRORS.has(reply.code)) findings.push({ user: u.name, action, reply });
  if (!SERVER_TYPES.has((reply as { type?: string }).type ?? '')) findings.push({ user: u.name, action, reply });
  if (reply.type === 'joined' && !seenRooms.includes(reply.room.id)) seenRooms.push(reply.room.id);
  if (reply.type === 'synced') for (const r of reply.rooms) if (!seenRooms.includes(r.id)) seenRooms.push(r.id);
  if (reply.type === 'rooms') {
    for (const r of reply.rooms) if (!seenRooms.includes(r.id)) seenRooms.push(r.id);
    if (reply.nextCursor) seenCursors.push(reply.nextCursor);
  }
}

const errorLines: string[] = [];

beforeAll(async () => {
  const realError = console.error.bind(console);
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    errorLines.push(args.map(String).join(' '));
    realError(...args);
  });
  stack = await testStack();
  for (const name of USERS) {
    const token = await stack.token(name);
    users.push({ name, token, client: await connect({ token }), lastDoneAt: 0 });
  }
  // A little state to act on: a public room, and a private one with an invitee.
  const [ann] = users;
  for (const setup of [
    { action: 'createroom', room: 'hp-public', name: 'Handlers' },
    { action: 'createroom', private: true, name: 'Secret plans', invite: [USERS[1]] },
  ]) {
    const res = await ann!.client.reply(setup as never, 10_000);
    if (res.type === 'joined') seenRooms.push(res.room.id);
    ann!.lastDoneAt = Date.now();
  }
});

afterAll(async () => {
  vi.restoreAllMocks();
  await Promise.all(clients.map((c) => c.close()));
  await stack?.close();
});

describe('the real handlers', () => {
  it(`answer ${RUNS * STEPS_PER_RUN} arbitrary valid actions from ${USERS.length} users with typed replies, never internal`, async () => {
    const seed = process.env.HANDLERS_SEED ? Number(process.env.HANDLERS_SEED) : undefined;
    const run = await fc.check(
      fc.asyncProperty(fc.array(step, { minLength: STEPS_PER_RUN, maxLength: STEPS_PER_RUN }), async (steps) => {
        const before = findings.length;
        // Each user works through its own steps in order; the users run side by side.
        await Promise.all(
          users.map(async (u, i) => {
            for (const s of steps.filter((st) => st.who === i)) await perform(u, s);
          }),
        );
        expect(findings.slice(before), brief(findings.slice(before))).toEqual([]);
      }),
      { numRuns: RUNS, endOnFailure: true, examples: [[EDGE_TOUR]], ...(seed === undefined ? {} : { seed }) },
    );
    // fast-check's own report prints every generated 4,000-character text; this one says what failed and how to replay it.
    if (run.failed) throw new Error(`HANDLERS_SEED=${run.seed} replays this: ${String(run.errorInstance).slice(0, 3000)}`);

    // Leftovers: typing refusals, broadcasts, anything that arrived unasked. A ping each makes sure every socket drained.
    for (const u of users) {
      if (u.client.ws.readyState !== u.client.ws.OPEN) continue;
      await pause(Math.max(0, u.lastDoneAt + PACE_MS - Date.now()));
      expect((await u.client.reply({ action: 'ping' }, 10_000)).type).toBe('pong');
    }
    const leftovers = clients.flatMap((c) => c.events);
    const bad = leftovers.filter((e) => {
      const type = (e as { type?: string }).type;
      return !type || !SERVER_TYPES.has(type) || (e.type === 'error' && !TYPED_ERRORS.has(e.code));
    });
    expect(bad, brief(bad)).toEqual([]);
    expect(errorLines.filter((l) => /"code":"internal"|Internal server error/.test(l))).toEqual([]);
    console.info(`handlers property: ${JSON.stringify(Object.fromEntries([...tally].sort()))}; rooms seen ${seenRooms.length}`);
  }, 180_000);
});
