import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../amplify/core/protocol';
import { ReconnectingSocket } from '../../src/realtime/connection';
import { ChatError, ChatSocket } from '../../src/realtime/socket';
import type { ConnectionState } from '../../src/realtime/types';
import { FakeChatServer } from './support/fakeServer';
import { harness, range, sleep, type Harness } from './support/harness';
import { script, sentOf } from './support/scriptedSocket';

const waitFor = <T>(fn: () => T, timeout = 4000) => vi.waitFor(fn, { timeout, interval: 10 });

let server: FakeChatServer;
const clients: Harness[] = [];
function client(...args: Parameters<typeof harness> extends [unknown, ...infer R] ? R : never): Harness {
  const h = harness(server, ...args);
  clients.push(h);
  return h;
}

beforeEach(async () => {
  server = await FakeChatServer.start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.stop();
  await server.close();
});

/** Counts of each seq delivered, to prove "exactly once". */
function counts(h: Harness, room: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const msg of h.delivered) if (msg.room === room) m.set(msg.seq, (m.get(msg.seq) ?? 0) + 1);
  return m;
}
const deliveredOnce = (h: Harness, room: string) => [...counts(h, room).values()].every((n) => n === 1);

/**
 * Waits until the server has handled a ping sent now: frames go in order on
 * one socket, so everything the client sent before has been handled too.
 * What "nothing more happened" checks wait for, instead of a fixed sleep.
 */
async function barrier(h: Harness, user = 'alice'): Promise<void> {
  const pings = () => server.log.filter((l) => l.user === user && l.action.action === 'ping').length;
  const before = pings();
  h.socket.connection.probe();
  await waitFor(() => expect(pings()).toBeGreaterThan(before));
}

describe('ChatSocket against a real WebSocket server', () => {
  it('connects with a freshly resolved URL, syncs its rooms and loads the lobby\'s newest page', async () => {
    for (const i of range(1, 60)) server.post('lobby', 'bob', `old ${i}`);
    const a = client();
    const synced = vi.fn();
    a.socket.on('synced', synced);
    a.socket.start();
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(11, 60)));
    expect(a.states).toEqual(['connecting', 'online']);
    expect(synced).toHaveBeenCalledWith({ rooms: [expect.objectContaining({ id: 'lobby', lastSeq: 60, lastRead: 60, unread: 0 })] });
    expect(a.socket.lastSeq('lobby')).toBe(60);
    expect(a.urlCalls()).toBe(1);
    // Older pages on demand, and they say when the beginning is reached.
    const page = await a.socket.loadOlder('lobby', 11);
    expect(page.hasMore).toBe(false);
    expect(a.seqs('lobby')).toEqual(range(1, 60));
  });

  it('sends with a clientMsgId, one unacked message per room at a time, in the order written', async () => {
    const a = client();
    const acks: number[] = [];
    a.socket.on('ack', (e) => acks.push(e.seq));
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    const ids = range(1, 8).map((i) => a.socket.sendMessage('lobby', `m${i}`));
    expect(new Set(ids).size).toBe(8);
    await waitFor(() => expect(acks).toHaveLength(8));
    expect(server.maxInflight).toBe(1);
    expect(server.messages('lobby').map((m) => m.text)).toEqual(range(1, 8).map((i) => `m${i}`));
    const sent = server.log.filter((l) => l.action.action === 'sendmessage');
    expect(sent).toHaveLength(8); // no spurious resends either
    expect(sent.every((l) => 'clientMsgId' in l.action && typeof l.action.clientMsgId === 'string')).toBe(true);
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 8)));
    expect(deliveredOnce(a, 'lobby')).toBe(true);
  });

  it('queues while disconnected and flushes in order after reconnecting', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.refuse = true;
    server.drop();
    await waitFor(() => expect(a.socket.state).toBe('reconnecting'));
    for (const i of range(1, 5)) a.socket.sendMessage('lobby', `offline ${i}`);
    // A fresh URL (token) for every attempt; none of them got a socket, so nothing was sent.
    await waitFor(() => expect(a.urlCalls()).toBeGreaterThan(2));
    expect(server.messages('lobby')).toHaveLength(0);
    server.refuse = false;
    await waitFor(() => expect(server.messages('lobby').map((m) => m.text)).toEqual(range(1, 5).map((i) => `offline ${i}`)));
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 5)));
    expect(a.states).toEqual(['connecting', 'online', 'reconnecting', 'online']);
    expect(deliveredOnce(a, 'lobby')).toBe(true);
  });

  it('resends an unacked message after the socket drops, and the server keeps it once', async () => {
    const a = client();
    const acks: { seq: number; clientMsgId: string }[] = [];
    a.socket.on('ack', (e) => acks.push(e));
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.loseAcks = 1;
    const id = a.socket.sendMessage('lobby', 'precious');
    await waitFor(() => expect(server.messages('lobby')).toHaveLength(1));
    server.drop();
    await waitFor(() => expect(acks).toEqual([{ room: 'lobby', clientMsgId: id, seq: 1, id: expect.any(String), ts: expect.any(Number) }]));
    const resends = server.log.filter((l) => l.action.action === 'sendmessage');
    expect(resends).toHaveLength(2);
    // Only the copy after the first says it may have been seen (the server then takes its strict path).
    expect(resends.map((l) => ('retry' in l.action ? l.action.retry : undefined))).toEqual([undefined, true]);
    expect(server.messages('lobby')).toHaveLength(1);
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1]));
  });

  it('resends after an ack timeout without duplicating', async () => {
    const a = client('alice', { ackTimeoutMs: 80 });
    const acked = vi.fn();
    a.socket.on('ack', acked);
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.loseAcks = 2;
    a.socket.sendMessage('lobby', 'one');
    a.socket.sendMessage('lobby', 'two');
    await waitFor(() => expect(acked).toHaveBeenCalledTimes(2));
    expect(server.messages('lobby').map((m) => m.text)).toEqual(['one', 'two']);
    expect(server.maxInflight).toBe(1);
  });

  it('catches up every missed message after a reconnect, paging history, exactly once and in order', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.post('lobby', 'bob', 'before');
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1]));
    server.refuse = true;
    server.drop('alice');
    await waitFor(() => expect(a.socket.state).toBe('reconnecting'));
    for (const i of range(2, 251)) server.post('lobby', 'bob', `missed ${i}`);
    server.refuse = false;
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 251)));
    expect(deliveredOnce(a, 'lobby')).toBe(true);
    const histories = server.log.filter((l) => l.user === 'alice' && l.action.action === 'history' && l.action.after !== undefined);
    expect(histories.length).toBeGreaterThanOrEqual(3); // 250 missed at ≤100 a page
    expect(a.socket.lastSeq('lobby')).toBe(251);
  });

  it('fills a gap in live fan-out from history', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.fanoutFilter = (m, to) => !(to.name === 'alice' && (m.seq === 3 || m.seq === 4));
    for (const i of range(1, 6)) server.post('lobby', 'bob', `m${i}`);
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 6)));
    expect(deliveredOnce(a, 'lobby')).toBe(true);
    expect(a.socket.lastSeq('lobby')).toBe(6);
  });

  it('asks again, backing off, when a catch-up goes unanswered, even with no later message to reveal the gap', async () => {
    const a = client('alice', { requestTimeoutMs: 100 });
    const errors: string[] = [];
    a.socket.on('error', (e) => errors.push(e.code));
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    // The last two messages of a burst never reach alice live, and her first catch-up for them is lost.
    server.fanoutFilter = (m, to) => !(to.name === 'alice' && m.seq >= 4);
    server.ignoreHistory = 2;
    for (const i of range(1, 5)) server.post('lobby', 'bob', `m${i}`);
    const ack = await new Promise<number>((resolve) => {
      a.socket.on('ack', (e) => resolve(e.seq));
      a.socket.sendMessage('lobby', 'mine');
    });
    expect(ack).toBe(6);
    // Nothing more is posted: only the client's own retries can fill 4 and 5 (and 6, known from the ack).
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 6)));
    expect(server.log.filter((l) => l.user === 'alice' && l.action.action === 'history').length).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([]);
    expect(deliveredOnce(a, 'lobby')).toBe(true);
  });

  it('treats seqs the server skipped as settled, without asking again and again', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.post('lobby', 'bob', 'one');
    server.skip('lobby');
    server.post('lobby', 'bob', 'three');
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(3));
    expect(a.seqs('lobby')).toEqual([1, 3]);
    await barrier(a);
    const fetches = server.log.filter((l) => l.action.action === 'history' && l.action.after !== undefined);
    expect(fetches).toHaveLength(1);
  });

  it('waits out a hole that a slow writer has not filled yet', async () => {
    const a = client('alice', { holeRetryMs: 30 });
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.fanoutFilter = (m) => m.seq !== 1; // its broadcast is lost too: only history can deliver it
    const slow = server.reserve('lobby', 'bob', 'slow');
    server.post('lobby', 'bob', 'fast');
    await waitFor(() => expect(a.seqs('lobby')).toEqual([2]));
    // It looked again (a later catch-up page) and still holds the line below the hole.
    const lookups = () => server.log.filter((l) => l.action.action === 'history' && l.action.after !== undefined).length;
    await waitFor(() => expect(lookups()).toBeGreaterThanOrEqual(2));
    expect(a.socket.lastSeq('lobby')).toBe(0);
    slow.write();
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1, 2]));
    expect(a.socket.lastSeq('lobby')).toBe(2);
    expect(deliveredOnce(a, 'lobby')).toBe(true);
  });

  it('opens a room with a hole inside its newest page and still fills it', async () => {
    server.post('lobby', 'bob', 'one');
    const slow = server.reserve('lobby', 'bob', 'two');
    server.post('lobby', 'bob', 'three');
    const a = client('alice', { holeRetryMs: 30 });
    a.socket.start();
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1, 3]));
    expect(a.socket.lastSeq('lobby')).toBe(1);
    slow.write(); // fans out live to alice, who must not drop it as "already seen"
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1, 2, 3]));
    expect(a.socket.lastSeq('lobby')).toBe(3);
  });

  it('fetches a lost last message once an ack shows it exists', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    // Our own message's broadcast never reaches us: only the ack does.
    server.fanoutFilter = (_m, to) => to.name !== 'alice';
    a.socket.sendMessage('lobby', 'mine');
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1]));
  });

  it('ignores duplicated fan-out frames', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.duplicateFanout = true;
    for (const i of range(1, 4)) server.post('lobby', 'bob', `m${i}`);
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 4)));
    // The copies of 1-4 went out before 5 on the same socket, so once 5 is in they have all been seen.
    server.duplicateFanout = false;
    server.post('lobby', 'bob', 'm5');
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 5)));
    expect(a.delivered).toHaveLength(5);
  });

  it('retries a rate-limited send after the server says, then delivers it once', async () => {
    const a = client();
    const failed = vi.fn();
    a.socket.on('sendfailed', failed);
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.rateLimit = 2;
    a.socket.sendMessage('lobby', 'patient');
    await waitFor(() => expect(server.messages('lobby')).toHaveLength(1));
    expect(failed).not.toHaveBeenCalled();
  });

  it('joins again when the server says not_joined, then resends the refused message once', async () => {
    server.room('random', 'Random', false, ['alice']);
    const a = client();
    const failed = vi.fn();
    a.socket.on('sendfailed', failed);
    a.socket.start(['lobby', 'random']);
    await waitFor(() => expect(a.socket.lastSeq('random')).toBe(0));
    server.forgetRoom('alice', 'random');
    const id = a.socket.sendMessage('random', 'still mine');
    await waitFor(() => expect(server.messages('random').map((m) => m.text)).toEqual(['still mine']));
    const log = server.log.filter((l) => l.user === 'alice' && (l.action.action === 'joinroom' || l.action.action === 'sendmessage'));
    // send (refused), join again, send again with the same clientMsgId.
    expect(log.slice(-3).map((l) => l.action)).toEqual([
      expect.objectContaining({ action: 'sendmessage', room: 'random', clientMsgId: id }),
      expect.objectContaining({ action: 'joinroom', room: 'random' }),
      expect.objectContaining({ action: 'sendmessage', room: 'random', clientMsgId: id, retry: true }),
    ]);
    expect(failed).not.toHaveBeenCalled();
  });

  it('reports a permanent refusal as failed, and a retry keeps the same clientMsgId', async () => {
    const a = client();
    const failed = vi.fn();
    a.socket.on('sendfailed', failed);
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.rateLimit = 99;
    const id = a.socket.sendMessage('lobby', 'doomed');
    await waitFor(() => expect(failed).toHaveBeenCalledWith({ room: 'lobby', clientMsgId: id, error: expect.objectContaining({ code: 'rate_limited' }) }));
    server.rateLimit = 0;
    a.socket.retry(id);
    await waitFor(() => expect(server.messages('lobby')).toHaveLength(1));
    const ids = server.log.flatMap((l) => (l.action.action === 'sendmessage' ? [l.action.clientMsgId] : []));
    expect(new Set(ids)).toEqual(new Set([id]));
    const sends = server.log.filter((l) => l.action.action === 'sendmessage');
    expect(sends.at(-1)?.action).toMatchObject({ retry: true });
  });

  it('refuses what can never be sent with a typed local error, before touching the socket', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    const attempt = (room: string, text: string) => {
      try {
        a.socket.sendMessage(room, text);
      } catch (err) {
        return err instanceof ChatError ? err.code : 'other';
      }
      return 'sent';
    };
    expect(attempt('lobby', 'x'.repeat(LIMITS.maxTextChars + 1))).toBe('text_too_long');
    expect(attempt('lobby', '   ')).toBe('empty');
    // The server's own text rule, from core: zero-width characters alone are blank, and bidi overrides are refused.
    expect(attempt('lobby', '\u200B\u2060')).toBe('empty');
    expect(attempt('lobby', 'abc\u202Edef')).toBe('bad_request');
    expect(attempt('elsewhere', 'hi')).toBe('not_joined');
    // An oversized frame (a createroom with a huge name here) is refused locally, not sent.
    await expect(a.socket.createRoom({ room: 'big', name: 'n'.repeat(LIMITS.maxFrameBytes) })).rejects.toMatchObject({ code: 'frame_too_large' });
    await barrier(a);
    expect(server.log.some((l) => l.action.action === 'sendmessage' || l.action.action === 'createroom')).toBe(false);
  });

  it('bounds the outbox: past maxOutbox a send fails with queue_full, nothing is dropped, and room comes back as acks arrive', async () => {
    const a = client('alice', { maxOutbox: 3 });
    const failed = vi.fn();
    a.socket.on('sendfailed', failed);
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.refuse = true;
    server.drop();
    await waitFor(() => expect(a.socket.state).toBe('reconnecting'));
    for (const i of range(1, 3)) a.socket.sendMessage('lobby', `offline ${i}`);
    // Unbounded, this would queue a fourth and keep growing while offline.
    expect(() => a.socket.sendMessage('lobby', 'one too many')).toThrow(expect.objectContaining({ code: 'queue_full' }));
    server.refuse = false;
    await waitFor(() => expect(server.messages('lobby').map((m) => m.text)).toEqual(range(1, 3).map((i) => `offline ${i}`)));
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(1, 3)));
    // The refused one was never queued, so nothing failed later either; and there is room again.
    expect(failed).not.toHaveBeenCalled();
    a.socket.sendMessage('lobby', 'after');
    await waitFor(() => expect(server.messages('lobby')).toHaveLength(4));
  });

  it('bounds the outbox by default too, at 100 messages', () => {
    const a = client();
    a.socket.start();
    // Synchronously, before the socket can open: every message waits in the outbox.
    const sent: string[] = [];
    let error: unknown;
    try {
      for (let i = 0; i < 10_000; i++) sent.push(a.socket.sendMessage('lobby', `m${i}`));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'queue_full' });
    expect(sent).toHaveLength(100);
  });

  it('reports a retry that finds the outbox full as failed again, keeping it for later', async () => {
    const a = client('alice', { maxOutbox: 1 });
    const failed = vi.fn();
    a.socket.on('sendfailed', failed);
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.rateLimit = 99;
    const doomed = a.socket.sendMessage('lobby', 'doomed');
    await waitFor(() => expect(failed).toHaveBeenCalledWith(expect.objectContaining({ clientMsgId: doomed, error: expect.objectContaining({ code: 'rate_limited' }) })));
    server.refuse = true;
    server.drop();
    await waitFor(() => expect(a.socket.state).toBe('reconnecting'));
    const acked = vi.fn();
    a.socket.on('ack', acked);
    const waiting = a.socket.sendMessage('lobby', 'waiting');
    a.socket.retry(doomed);
    expect(failed).toHaveBeenLastCalledWith({ room: 'lobby', clientMsgId: doomed, error: expect.objectContaining({ code: 'queue_full' }) });
    server.rateLimit = 0;
    server.refuse = false;
    // Its ack, not only its arrival, is what frees the outbox.
    await waitFor(() => expect(acked).toHaveBeenCalledWith(expect.objectContaining({ clientMsgId: waiting })));
    // Still kept as failed, so a later retry sends it.
    a.socket.retry(doomed);
    await waitFor(() => expect(server.messages('lobby').map((m) => m.text)).toEqual(['waiting', 'doomed']));
  });

  it('bounds the requests waiting for a socket: past maxQueuedRequests one rejects with queue_full', async () => {
    const a = client('alice', { maxQueuedRequests: 2 });
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.refuse = true;
    server.drop();
    await waitFor(() => expect(a.socket.state).toBe('reconnecting'));
    const first = a.socket.listRooms();
    const second = a.socket.loadOlder('lobby', 1);
    await expect(a.socket.listRooms()).rejects.toMatchObject({ code: 'queue_full' });
    server.refuse = false;
    await expect(first).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ id: 'lobby' })]));
    await expect(second).resolves.toMatchObject({ type: 'history', room: 'lobby' });
  });

  it('detects a half-open socket by its missing pong and reconnects', async () => {
    const a = client('alice', { heartbeatMs: 60, pongTimeoutMs: 80 });
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    server.silent = true;
    await waitFor(() => expect(a.states).toContain('reconnecting'));
    server.silent = false;
    await waitFor(() => expect(a.states.at(-1)).toBe('online'));
    expect(server.connects).toBeGreaterThanOrEqual(2);
  });

  it('re-seats every room with one sync per connection, not a joinroom per room, and keeps messages flowing in each', async () => {
    for (const id of ['random', 'rust', 'zebra']) server.room(id, id, false, ['alice']);
    const a = client();
    a.socket.start(['lobby', 'random', 'rust', 'zebra']);
    await waitFor(() => expect(a.socket.lastSeq('zebra')).toBe(0));
    server.drop();
    await waitFor(() => expect(server.connects).toBe(2));
    await waitFor(() => expect(a.socket.state).toBe('online'));
    await waitFor(() => expect(server.log.filter((l) => l.action.action === 'sync')).toHaveLength(2));
    server.post('random', 'bob', 'still here');
    server.post('zebra', 'bob', 'here too');
    await waitFor(() => expect(a.seqs('random')).toEqual([1]));
    await waitFor(() => expect(a.seqs('zebra')).toEqual([1]));
    await barrier(a);
    // Each connection: one sync (no cursor: one page holds them all), and no per-room joins at all.
    const frames = server.log.filter((l) => l.user === 'alice' && ['sync', 'joinroom'].includes(l.action.action)).map((l) => l.action);
    expect(frames).toEqual([expect.objectContaining({ action: 'sync' }), expect.objectContaining({ action: 'sync' })]);
    expect(frames.some((f) => 'cursor' in f && f.cursor !== undefined)).toBe(false);
  });

  it('follows sync pages, seats every room on them, and catches each one up from its last seq', async () => {
    const ids = range(1, 7).map((i) => `r${i}`);
    for (const id of ids) server.room(id, id, false, ['alice']);
    server.syncPerPage = 3;
    const a = client();
    a.socket.start(['lobby', ...ids]);
    await waitFor(() => expect(ids.map((id) => a.socket.lastSeq(id))).toEqual(ids.map(() => 0)));
    server.post('r2', 'bob', 'seen live');
    await waitFor(() => expect(a.seqs('r2')).toEqual([1]));
    server.refuse = true;
    server.drop();
    await waitFor(() => expect(a.socket.state).toBe('reconnecting'));
    server.post('r2', 'bob', 'missed');
    server.post('r7', 'bob', 'missed too');
    server.refuse = false;
    await waitFor(() => expect(a.seqs('r2')).toEqual([1, 2]));
    await waitFor(() => expect(a.seqs('r7')).toEqual([1]));
    // 8 rooms at 3 a page: 3 sync frames per connection, the later ones with the cursor they were given.
    const syncs = server.log.filter((l) => l.action.action === 'sync').map((l) => ('cursor' in l.action ? l.action.cursor : undefined));
    expect(syncs).toEqual([undefined, 'r2', 'r5', undefined, 'r2', 'r5']);
    // The synced room catches up from its last seq, as after a join.
    const after = server.log.filter((l) => l.action.action === 'history' && l.action.room === 'r2' && l.action.after !== undefined);
    expect(after.at(-1)?.action).toMatchObject({ after: 1 });
    expect(server.log.some((l) => l.action.action === 'joinroom')).toBe(false);
    expect(deliveredOnce(a, 'r2')).toBe(true);
  });

  it('follows rooms the server lists that were not followed here, and asks members only of the focused room', async () => {
    server.room('random', 'Random', false, ['alice']);
    server.room('elsewhere', 'Elsewhere', false, ['alice']);
    const a = client();
    a.socket.focus('random');
    a.socket.start(['lobby']);
    await waitFor(() => expect(a.socket.followedRooms()).toEqual(['lobby', 'elsewhere', 'random']));
    await waitFor(() => expect(server.log.filter((l) => l.action.action === 'joinroom').map((l) => l.action)).toEqual([expect.objectContaining({ room: 'random' })]));
    // The focused room's joinroom went after the sync that seated it.
    const order = server.log.filter((l) => l.user === 'alice').map((l) => l.action.action);
    expect(order.indexOf('sync')).toBeLessThan(order.indexOf('joinroom'));
  });

  it('starts a room afresh when it fell too far behind to catch up', async () => {
    const a = client('alice', { maxCatchUp: 20, pageSize: 10 });
    const reset = vi.fn();
    a.socket.on('reset', reset);
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.refuse = true;
    server.drop();
    for (const i of range(1, 50)) server.post('lobby', 'bob', `m${i}`);
    server.refuse = false;
    await waitFor(() => expect(a.seqs('lobby')).toEqual(range(41, 50)));
    expect(reset).toHaveBeenCalledWith({ room: 'lobby' });
  });

  it('drops a followed room the server no longer lists as yours, and says so', async () => {
    server.room('secret', 'Secret', true, ['alice']);
    server.room('open', 'Open', false, ['alice']);
    const a = client();
    const removed = vi.fn();
    a.socket.on('roomremoved', removed);
    a.socket.start(['lobby', 'secret', 'open', 'forgotten']);
    // A room remembered from last time that is not yours at all goes at the first sync.
    await waitFor(() => expect(removed).toHaveBeenCalledWith({ room: 'forgotten' }));
    await waitFor(() => expect(a.socket.lastSeq('secret')).toBe(0));
    server.rooms.get('secret')!.members.clear();
    server.rooms.get('open')!.members.clear();
    server.drop();
    await waitFor(() => expect(removed).toHaveBeenCalledTimes(3));
    expect(removed.mock.calls.map((c) => (c[0] as { room: string }).room).sort()).toEqual(['forgotten', 'open', 'secret']);
    expect(a.socket.followedRooms()).toEqual(['lobby']);
    // Dropped, not joined again: joining would make you a member of the public one anew.
    expect(server.log.some((l) => l.action.action === 'joinroom')).toBe(false);
    await expect(a.socket.editMessage('open', 1, 'x')).rejects.toMatchObject({ code: 'not_joined' });
  });

  it('joins a room asked for while offline even though the sync does not list it yet', async () => {
    server.room('random', 'Random');
    const a = client();
    const joined = a.socket.join('random');
    a.socket.start();
    await expect(joined).resolves.toMatchObject({ type: 'joined', room: expect.objectContaining({ id: 'random' }) });
    expect(server.rooms.get('random')!.members.has('alice')).toBe(true);
    expect(a.socket.followedRooms().sort()).toEqual(['lobby', 'random']);
  });

  it('follows the room list across pages and announces it once, whole', async () => {
    for (let i = 0; i < 25; i++) server.room(`r${String(i).padStart(2, '0')}`, `Room ${i}`, false, []);
    server.roomsPerPage = 10;
    const a = client('alice');
    const announced = vi.fn();
    a.socket.on('rooms', announced);
    a.socket.start();
    await waitFor(() => expect(a.socket.state).toBe('online'));
    const rooms = await a.socket.listRooms();
    expect(rooms.map((r) => r.id)).toEqual([...server.rooms.keys()]);
    expect(server.log.filter((l) => l.action.action === 'listrooms')).toHaveLength(3);
    expect(announced).toHaveBeenCalledTimes(1);
    expect(announced.mock.calls[0]?.[0]).toHaveLength(server.rooms.size);
  });

  it('creates rooms, lists them per user, and forwards presence and typing', async () => {
    const a = client('alice');
    const b = client('bob');
    const typing = vi.fn();
    const presence = vi.fn();
    b.socket.on('typing', typing);
    b.socket.on('presence', presence);
    a.socket.start();
    b.socket.start();
    await waitFor(() => expect([a.socket.state, b.socket.state]).toEqual(['online', 'online']));
    // A private room is asked for by name alone; its id comes from the server, in the reply.
    const joined = await a.socket.createRoom({ private: true, name: 'Plans', invite: ['bob'] });
    const plans = joined.room.id;
    expect(plans).toMatch(/^p[a-z0-9]{8,31}$/);
    expect(joined.room).toMatchObject({ name: 'Plans', private: true });
    const created = server.log.find((l) => l.action.action === 'createroom')!.action;
    expect(created).toMatchObject({ action: 'createroom', private: true, name: 'Plans', invite: ['bob'] });
    expect('room' in created && created.room !== undefined).toBe(false);
    expect(a.socket.followedRooms()).toContain(plans);
    expect((await b.socket.listRooms()).map((r) => r.id)).toContain(plans);
    const c = client('carol');
    c.socket.start();
    expect((await c.socket.listRooms()).map((r) => r.id)).not.toContain(plans);
    await b.socket.join(plans);
    a.socket.typing(plans);
    a.socket.typing(plans); // throttled
    await waitFor(() => expect(typing).toHaveBeenCalledTimes(1));
    await c.socket.join('lobby');
    await waitFor(() => expect(presence).toHaveBeenCalled());
    // Even knowing the server's id, a stranger cannot get in.
    await expect(c.socket.join(plans)).rejects.toMatchObject({ code: 'room_not_found' });
    // A public room is still named by its creator.
    expect((await a.socket.createRoom({ room: 'open-plans', name: 'Open plans' })).room.id).toBe('open-plans');
  });
});

describe('rooms that follow the account, read markers, edits and DMs', () => {
  it('follows a room added on another socket and seats it with a joinroom; stops when it is left there', async () => {
    server.room('random', 'Random');
    const one = client('alice');
    const two = client('alice');
    const added = vi.fn();
    const removed = vi.fn();
    two.socket.on('roomadded', added);
    two.socket.on('roomremoved', removed);
    one.socket.start();
    two.socket.start();
    await waitFor(() => expect([one.socket.lastSeq('lobby'), two.socket.lastSeq('lobby')]).toEqual([0, 0]));
    await one.socket.join('random');
    await waitFor(() => expect(added).toHaveBeenCalledWith({ room: expect.objectContaining({ id: 'random', lastRead: 0, unread: 0 }) }));
    // The second socket took a seat itself: it gets the room live.
    await waitFor(() => expect(server.log.filter((l) => l.action.action === 'joinroom' && l.action.room === 'random')).toHaveLength(2));
    await waitFor(() => expect(two.socket.lastSeq('random')).toBe(0));
    server.post('random', 'bob', 'to both');
    await waitFor(() => expect(two.seqs('random')).toEqual([1]));
    await one.socket.leave('random');
    await waitFor(() => expect(removed).toHaveBeenCalledWith({ room: 'random' }));
    expect(two.socket.followedRooms()).toEqual(['lobby']);
    expect(server.rooms.get('random')!.members.has('alice')).toBe(false);
  });

  it('follows a room someone invites you to, and hears of new public rooms', async () => {
    const a = client('alice');
    const b = client('bob');
    const added = vi.fn();
    const created = vi.fn();
    b.socket.on('roomadded', added);
    b.socket.on('roomcreated', created);
    a.socket.start();
    b.socket.start();
    await waitFor(() => expect([a.socket.state, b.socket.state]).toEqual(['online', 'online']));
    await waitFor(() => expect(b.socket.lastSeq('lobby')).toBe(0));
    const plans = (await a.socket.createRoom({ private: true, name: 'Plans', invite: ['bob'] })).room.id;
    await waitFor(() => expect(added).toHaveBeenCalledWith({ room: expect.objectContaining({ id: plans, name: 'Plans' }), by: { id: 'u-alice', name: 'alice' } }));
    await waitFor(() => expect(b.socket.lastSeq(plans)).toBe(0));
    await a.socket.createRoom({ room: 'open', name: 'Open' });
    await waitFor(() => expect(created).toHaveBeenCalledWith({ room: expect.objectContaining({ id: 'open', name: 'Open' }) }));
    // A public room someone else made is not yours until you join it.
    expect(b.socket.followedRooms()).not.toContain('open');
  });

  it('counts change seqs as seen: an edit between messages opens no gap', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    const changes: unknown[] = [];
    a.socket.on('changes', (e) => changes.push(e));
    server.post('lobby', 'bob', 'one');
    server.change('lobby', 1, 'one, edited');
    server.post('lobby', 'bob', 'three');
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(3));
    await barrier(a);
    expect(changes).toEqual([{ room: 'lobby', source: 'live', changes: [expect.objectContaining({ kind: 'edit', seq: 2, target: 1, text: 'one, edited' })] }]);
    // Without the change counted, seq 2 would look missing and be fetched.
    expect(server.log.filter((l) => l.action.action === 'history' && l.action.after !== undefined)).toHaveLength(0);
  });

  it('fetches a change lost in fan-out like a lost message, and hands it over from the history page', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    const changes: { source: string; seqs: number[] }[] = [];
    a.socket.on('changes', (e) => changes.push({ source: e.source, seqs: e.changes.map((c) => c.seq) }));
    server.changeFilter = (_c, to) => to.name !== 'alice';
    server.post('lobby', 'bob', 'one');
    server.change('lobby', 1);
    server.post('lobby', 'bob', 'three');
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(3));
    expect(changes).toEqual([{ source: 'catchup', seqs: [2] }]);
    expect(a.seqs('lobby')).toEqual([1, 3]);
  });

  it('edits and deletes your own message: the reply is the change, others get it live, and refusals are typed', async () => {
    const a = client('alice');
    const b = client('bob');
    a.socket.start();
    b.socket.start();
    await waitFor(() => expect([a.socket.lastSeq('lobby'), b.socket.lastSeq('lobby')]).toEqual([0, 0]));
    const bobs: unknown[] = [];
    b.socket.on('changes', (e) => bobs.push(...e.changes));
    const acked = new Promise<number>((resolve) => a.socket.on('ack', (e) => resolve(e.seq)));
    a.socket.sendMessage('lobby', 'tpyo');
    const seq = await acked;
    await expect(a.socket.editMessage('lobby', seq, 'typo')).resolves.toEqual({ kind: 'edit', room: 'lobby', seq: 2, target: seq, text: 'typo', ts: expect.any(Number), senderId: 'u-alice' });
    await expect(a.socket.deleteMessage('lobby', seq)).resolves.toMatchObject({ kind: 'delete', seq: 3, target: seq });
    await waitFor(() => expect(bobs).toEqual([expect.objectContaining({ kind: 'edit', seq: 2 }), expect.objectContaining({ kind: 'delete', seq: 3 })]));
    expect(server.messages('lobby')[0]).toMatchObject({ text: '', deleted: true, editSeq: 3 });
    // Our own change seqs count as seen from the replies: the room is complete past them (the message itself comes by catch-up, as after any ack).
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(3));
    expect(a.seqs('lobby')).toEqual([seq]);
    await expect(a.socket.editMessage('lobby', seq, 'again')).rejects.toMatchObject({ code: 'message_not_found' });
    server.post('lobby', 'carol', 'theirs');
    await expect(a.socket.deleteMessage('lobby', 4)).rejects.toMatchObject({ code: 'forbidden' });
    // The send text rules, locally, before anything goes.
    const sent = server.log.length;
    await expect(a.socket.editMessage('lobby', 4, '   ')).rejects.toMatchObject({ code: 'empty' });
    await expect(a.socket.editMessage('lobby', 4, 'x'.repeat(LIMITS.maxTextChars + 1))).rejects.toMatchObject({ code: 'text_too_long' });
    expect(server.log.length).toBe(sent);
  });

  it('waits for the room to be seated before sending an edit asked for offline', async () => {
    const a = client();
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    const acked = new Promise<number>((resolve) => a.socket.on('ack', (e) => resolve(e.seq)));
    a.socket.sendMessage('lobby', 'before');
    const seq = await acked;
    server.refuse = true;
    server.drop();
    await waitFor(() => expect(a.socket.state).toBe('reconnecting'));
    const edit = a.socket.editMessage('lobby', seq, 'after');
    server.refuse = false;
    await expect(edit).resolves.toMatchObject({ kind: 'edit', text: 'after' });
    const order = server.log.filter((l) => l.user === 'alice').map((l) => l.action.action);
    expect(order.lastIndexOf('sync')).toBeLessThan(order.indexOf('editmessage'));
  });

  it('marks read coalesced: one read in flight per room, the latest wish next, nothing at or below the server marker', async () => {
    for (const i of range(1, 10)) server.post('lobby', 'bob', `m${i}`);
    const a = client();
    const reads: { seq: number; unread: number }[] = [];
    a.socket.on('read', (e) => reads.push({ seq: e.seq, unread: e.unread }));
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(10));
    // Alice met the lobby at seq 10: that is her marker already, so marking it sends nothing.
    expect(a.socket.lastRead('lobby')).toBe(10);
    for (const i of range(11, 15)) server.post('lobby', 'bob', `m${i}`);
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(15));
    server.holdReads = true;
    a.socket.markRead('lobby', 10);
    a.socket.markRead('lobby', 12);
    a.socket.markRead('lobby', 13);
    a.socket.markRead('lobby', 14);
    a.socket.markRead('lobby', 13);
    await barrier(a);
    const sentReads = () => server.log.filter((l) => l.action.action === 'read').map((l) => ('seq' in l.action ? l.action.seq : -1));
    expect(sentReads()).toEqual([12]);
    server.releaseReads();
    await waitFor(() => expect(sentReads()).toEqual([12, 14]));
    await waitFor(() => expect(reads).toEqual([{ seq: 12, unread: 3 }, { seq: 14, unread: 1 }]));
    expect(a.socket.lastRead('lobby')).toBe(14);
    a.socket.markRead('lobby', 14);
    a.socket.markRead('lobby', 11);
    await barrier(a);
    expect(sentReads()).toEqual([12, 14]);
  });

  it('tells every socket of the user where reading stopped', async () => {
    server.room('random', 'Random', false, ['alice']);
    for (const i of range(1, 3)) server.post('random', 'bob', `m${i}`);
    const one = client('alice');
    const two = client('alice');
    const synced = vi.fn();
    const reads = vi.fn();
    two.socket.on('synced', synced);
    two.socket.on('read', reads);
    one.socket.start();
    two.socket.start();
    await waitFor(() => expect(synced).toHaveBeenCalledWith({ rooms: [expect.objectContaining({ id: 'lobby' }), expect.objectContaining({ id: 'random', lastRead: 0, unread: 3 })] }));
    await waitFor(() => expect(one.socket.lastSeq('random')).toBe(3));
    one.socket.markRead('random', 3);
    await waitFor(() => expect(reads).toHaveBeenCalledWith({ room: 'random', seq: 3, unread: 0, lastSeq: 3 }));
    expect(two.socket.lastRead('random')).toBe(3);
  });

  it('opens a DM by name: the same room for both, followed by each, and unknown names refused', async () => {
    const a = client('alice');
    const b = client('bob');
    const added = vi.fn();
    b.socket.on('roomadded', added);
    a.socket.start();
    b.socket.start();
    await waitFor(() => expect([a.socket.lastSeq('lobby'), b.socket.lastSeq('lobby')]).toEqual([0, 0]));
    const joined = await a.socket.openDm('bob');
    const id = joined.room.id;
    expect(id).toMatch(/^d[0-9a-f]{31}$/);
    expect(joined.room).toMatchObject({ private: true, name: 'alice, bob', dm: [{ id: 'u-alice', name: 'alice' }, { id: 'u-bob', name: 'bob' }] });
    expect(a.socket.followedRooms()).toContain(id);
    await waitFor(() => expect(added).toHaveBeenCalledWith({ room: expect.objectContaining({ id }), by: { id: 'u-alice', name: 'alice' } }));
    await waitFor(() => expect(b.socket.lastSeq(id)).toBe(0));
    expect((await b.socket.openDm('alice')).room.id).toBe(id);
    await expect(a.socket.openDm('nobody')).rejects.toMatchObject({ code: 'unknown_user' });
    await expect(a.socket.openDm('alice')).rejects.toMatchObject({ code: 'bad_request' });
    const c = client('carol');
    c.socket.start();
    await expect(c.socket.join(id)).rejects.toMatchObject({ code: 'room_not_found' });
  });
});

describe('sessions the server ends', () => {
  /** Everything the user could see go wrong: failed sends, errors, failed joins. */
  function troubles(h: Harness) {
    const seen: unknown[] = [];
    h.socket.on('sendfailed', (e) => seen.push(['sendfailed', e]));
    h.socket.on('error', (e) => seen.push(['error', e]));
    h.socket.on('joinfailed', (e) => seen.push(['joinfailed', e]));
    return seen;
  }

  it('token_expired: reconnects at once with a fresh token and delivers the refused send exactly once, catching up what it missed', async () => {
    // A backoff this long would show: the reconnect after an expired token must not wait for it.
    const a = client('alice', { backoff: { baseMs: 3_000, maxMs: 3_000 } });
    const seen = troubles(a);
    const acks: { clientMsgId: string; seq: number }[] = [];
    a.socket.on('ack', (e) => acks.push(e));
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.post('lobby', 'bob', 'before');
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1]));
    await sleep(80); // past stableMs: a healthy link

    server.expireTokens('alice');
    // Sent after exp, and one alice's expiring socket never hears live: only catch-up can bring it.
    server.fanoutFilter = (m, to) => !(to.name === 'alice' && m.text === 'missed');
    const expiredAt = performance.now();
    const id = a.socket.sendMessage('lobby', 'after expiry');
    server.post('lobby', 'bob', 'missed');

    await waitFor(() => expect(acks).toEqual([expect.objectContaining({ clientMsgId: id, seq: 3 })]));
    expect(a.urlTimes.at(-1)! - expiredAt).toBeLessThan(1_000);
    // Asked for a fresh token, got one, and the expired one was never offered again.
    expect(a.urlRequests).toEqual([{ refresh: false }, { refresh: true }]);
    expect(server.tokens('alice')).toEqual(['alice~1']);
    expect(server.connects).toBe(2);
    // Refused once unperformed, sent again with the same clientMsgId, stored once.
    const sends = server.log.filter((l) => l.action.action === 'sendmessage').map((l) => ('clientMsgId' in l.action ? l.action.clientMsgId : undefined));
    expect(sends).toEqual([id, id]);
    expect(server.messages('lobby').map((m) => m.text)).toEqual(['before', 'missed', 'after expiry']);
    // The lobby was joined again and caught up from its last seq.
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1, 2, 3]));
    expect(deliveredOnce(a, 'lobby')).toBe(true);
    const syncs = server.log.filter((l) => l.user === 'alice' && l.action.action === 'sync');
    expect(syncs).toHaveLength(2);
    const catchUps = server.log.filter((l) => l.user === 'alice' && l.action.action === 'history' && l.action.after !== undefined);
    expect(catchUps[0]?.action).toMatchObject({ after: 1 });
    // Nothing for the user to see but the short reconnect.
    expect(seen).toEqual([]);
    expect(a.states).toEqual(['connecting', 'online', 'reconnecting', 'online']);
  });

  it('token_expired on a heartbeat, with nothing being sent, still renews the session', async () => {
    const a = client('alice', { heartbeatMs: 60, backoff: { baseMs: 3_000, maxMs: 3_000 } });
    const seen = troubles(a);
    a.socket.start();
    await waitFor(() => expect(a.socket.lastSeq('lobby')).toBe(0));
    server.expireTokens('alice');
    await waitFor(() => expect(server.tokens('alice')).toEqual(['alice~1']));
    await waitFor(() => expect(a.socket.state).toBe('online'));
    expect(a.urlRequests.at(-1)).toEqual({ refresh: true });
    server.post('lobby', 'bob', 'still here');
    await waitFor(() => expect(a.seqs('lobby')).toEqual([1]));
    expect(seen).toEqual([]);
  });

  it('session_lost: requests and sends refused by it go again on a new socket, even when the server never closes the old one', async () => {
    server.room('random', 'random', false, ['alice']);
    server.sessionEndCloseMs = null; // the close is lost: the client must close the socket itself
    const a = client('alice', { closeGraceMs: 100 });
    const seen = troubles(a);
    const acked = vi.fn();
    a.socket.on('ack', acked);
    a.socket.start(['lobby', 'random']);
    await waitFor(() => expect(a.socket.lastSeq('random')).toBe(0));
    await sleep(80);

    server.loseSessions('alice');
    const created = a.socket.createRoom({ private: true, name: 'After the loss', invite: ['bob'] });
    const id = a.socket.sendMessage('random', 'kept');
    const joined = await created;
    expect(joined.room).toMatchObject({ name: 'After the loss', private: true });
    await waitFor(() => expect(acked).toHaveBeenCalledWith(expect.objectContaining({ room: 'random', clientMsgId: id, seq: 1 })));

    // The same token: it had not expired, only the server's record of the socket was lost.
    expect(a.urlRequests).toEqual([{ refresh: false }, { refresh: false }]);
    expect(server.connects).toBe(2);
    expect(server.log.filter((l) => l.action.action === 'createroom')).toHaveLength(2);
    expect(server.messages('random').map((m) => m.text)).toEqual(['kept']);
    expect([...server.rooms.values()].filter((r) => r.summary.name === 'After the loss')).toHaveLength(1);
    expect(a.socket.followedRooms()).toEqual(['lobby', 'random', joined.room.id]);
    await waitFor(() => expect(a.seqs('random')).toEqual([1]));
    expect(deliveredOnce(a, 'random')).toBe(true);
    expect(seen).toEqual([]);
  });

});

describe('timing, on fake timers and a scripted socket', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('backs off exponentially up to a cap, and resets only after a stable connection', async () => {
    const sc = script();
    sc.refuse = true;
    const urlTimes: number[] = [];
    const conn = new ReconnectingSocket({
      getUrl: () => {
        urlTimes.push(Date.now());
        return Promise.resolve('ws://scripted');
      },
      createSocket: sc.createSocket,
      backoff: { baseMs: 25, maxMs: 200 },
      random: () => 1,
      stableMs: 100,
    });
    const states: ConnectionState[] = [];
    conn.on('state', (s) => states.push(s));
    conn.start();
    await vi.advanceTimersByTimeAsync(25 + 50 + 100 + 200 + 200);
    const gaps = urlTimes.slice(1).map((t, i) => t - urlTimes[i]!);
    // Doubling, then flat at the cap (uncapped, the last would be 400).
    expect(gaps).toEqual([25, 50, 100, 200, 200]);
    expect(states).toEqual(['connecting']);

    sc.refuse = false;
    await vi.advanceTimersByTimeAsync(200);
    expect(conn.state).toBe('online');
    // A drop right after connecting keeps backing off: the link is not stable yet.
    const early = urlTimes.length;
    sc.sockets.at(-1)!.fail();
    expect(conn.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(199);
    expect(urlTimes).toHaveLength(early);
    await vi.advanceTimersByTimeAsync(1);
    expect(urlTimes).toHaveLength(early + 1);
    expect(conn.state).toBe('online');
    // After staying up past stableMs, the next drop retries at the base delay.
    await vi.advanceTimersByTimeAsync(100);
    sc.sockets.at(-1)!.fail();
    await vi.advanceTimersByTimeAsync(25);
    expect(urlTimes).toHaveLength(early + 2);
    expect(conn.state).toBe('online');
    expect(states).toEqual(['connecting', 'online', 'reconnecting', 'online', 'reconnecting', 'online']);
    conn.stop();
  });

  it('skips the heartbeat ping while frames go out and answers come back, and pings once idle', async () => {
    const sc = script((action, socket) => {
      if (action.action === 'ping') socket.receive({ type: 'pong', ts: Date.now() });
      if (action.action === 'typing') socket.receive({ type: 'typing', room: 'lobby', user: { id: 'u-bob', name: 'bob' } });
    });
    const conn = new ReconnectingSocket({ getUrl: () => Promise.resolve('ws://scripted'), createSocket: sc.createSocket, heartbeatMs: 60 });
    conn.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(conn.state).toBe('online');
    // Ten heartbeat intervals of traffic, each frame answered.
    for (let i = 0; i < 30; i++) {
      conn.send(JSON.stringify({ action: 'typing', room: 'lobby' }));
      await vi.advanceTimersByTimeAsync(20);
    }
    // The old heartbeat pinged every interval regardless: ten here.
    expect(sentOf(sc, 'ping')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2 * 60);
    expect(sentOf(sc, 'ping').length).toBeGreaterThanOrEqual(1);
    expect(conn.state).toBe('online');
    conn.stop();
  });

  it('backs off instead of looping when every new socket is refused again at once', async () => {
    // Every socket's session is lost as soon as it acts: refused unperformed, then closed, as @connections DELETE does.
    const sc = script((action, socket) => {
      if (action.action === 'ping') return;
      socket.receive({ type: 'error', code: 'session_lost', message: 'reconnect', action: action.action, reqId: action.reqId });
      setTimeout(() => socket.fail(1000), 5);
    });
    const socket = new ChatSocket({
      getUrl: () => Promise.resolve('ws://scripted'),
      createSocket: sc.createSocket,
      backoff: { baseMs: 200, maxMs: 200 },
      random: () => 1,
      stableMs: 5_000,
    });
    const t0 = Date.now();
    socket.start();
    await vi.advanceTimersByTimeAsync(600);
    // The first renewal at once, then 200 ms apart, where an unguarded loop would open one socket every 5 ms.
    const opened = sc.sockets.map((k) => (k.sent[0]?.at ?? NaN) - t0);
    // Each socket acts at once and is closed 5 ms later; a 0 ms timer fires after 1 ms, as in Node.
    expect(opened).toEqual([0, 5 + 1, 6 + 5 + 200, 211 + 5 + 200]);
    socket.stop();
  });

  /** A scripted server: lobby-only syncs (the first `unansweredSyncs` ignored), joins (the first `unansweredJoins` of random ignored), empty history. */
  function roomsScript(opts: { unansweredSyncs?: number; unansweredJoins?: number } = {}) {
    let syncs = opts.unansweredSyncs ?? 0;
    let joins = opts.unansweredJoins ?? 0;
    const summary = (id: string) => ({ id, name: id, private: false, createdBy: 'system', lastSeq: 0 });
    return script((action, socket) => {
      const reqId = action.reqId;
      if (action.action === 'sync') {
        if (syncs-- > 0) return;
        socket.receive({ type: 'synced', rooms: [{ ...summary('lobby'), lastRead: 0, unread: 0 }], reqId });
      }
      if (action.action === 'joinroom') {
        if (action.room === 'random' && joins-- > 0) return;
        socket.receive({ type: 'joined', room: summary(action.room), members: [], memberCount: 0, lastRead: 0, unread: 0, reqId });
      }
      if (action.action === 'history') socket.receive({ type: 'history', room: action.room, messages: [], skipped: [], changes: [], lastSeq: 0, hasMore: false, reqId });
    });
  }

  it('keeps the lobby when a region has no copy of it yet: a sync without it and a join refused as room_not_found are "later", not "gone"', async () => {
    // A new deployment: only the primary makes the lobby, and this region's replica has not got it yet.
    let lobbyHere = false;
    const summary = { id: 'lobby', name: 'Lobby', private: false, createdBy: 'system', lastSeq: 0 };
    const sc = script((action, socket) => {
      const reqId = action.reqId;
      if (action.action === 'sync') socket.receive({ type: 'synced', rooms: lobbyHere ? [{ ...summary, lastRead: 0, unread: 0 }] : [], reqId });
      if (action.action === 'joinroom') {
        if (lobbyHere) socket.receive({ type: 'joined', room: summary, members: [], memberCount: 0, lastRead: 0, unread: 0, reqId });
        else socket.receive({ type: 'error', code: 'room_not_found', message: 'No room "lobby"', action: 'joinroom', reqId });
        lobbyHere = true;
      }
      if (action.action === 'history') socket.receive({ type: 'history', room: action.room, messages: [], skipped: [], changes: [], lastSeq: 0, hasMore: false, reqId });
    });
    const socket = new ChatSocket({ getUrl: () => Promise.resolve('ws://scripted'), createSocket: sc.createSocket, random: () => 0 });
    const events: string[] = [];
    socket.on('joined', (e) => events.push(`joined ${e.room.id}`));
    socket.on('roomremoved', (e) => events.push(`removed ${e.room}`));
    socket.on('joinfailed', (e) => events.push(`joinfailed ${e.room}`));
    socket.start();
    await vi.advanceTimersByTimeAsync(0);
    // Asked again after the join backoff (250 ms with random 0), by when the replica has it.
    await vi.advanceTimersByTimeAsync(250);
    expect(events).toEqual(['joined lobby']);
    expect(sentOf(sc, 'leaveroom')).toEqual([]);
    expect(sentOf(sc, 'joinroom').map((f) => f.action.action === 'joinroom' && f.action.room)).toEqual(['lobby', 'lobby']);
    socket.stop();
  });

  it('asks again for a join that timed out, backing off rather than at once', async () => {
    const sc = roomsScript({ unansweredJoins: 2 });
    // random: () => 0 makes each backoff its fixed half: 250 ms, then 500 ms.
    const socket = new ChatSocket({ getUrl: () => Promise.resolve('ws://scripted'), createSocket: sc.createSocket, requestTimeoutMs: 50, random: () => 0 });
    const joined = vi.fn();
    socket.on('joined', (e) => joined(e.room.id));
    socket.start();
    await vi.advanceTimersByTimeAsync(0);
    void socket.join('random');
    await vi.advanceTimersByTimeAsync(50 + 250 + 50 + 500);
    expect(joined.mock.calls).toEqual([['random']]);
    const joins = sentOf(sc, 'joinroom').filter((f) => f.action.action === 'joinroom' && f.action.room === 'random');
    expect(joins.map((f) => f.at - joins[0]!.at)).toEqual([0, 50 + 250, 50 + 250 + 50 + 500]);
    socket.stop();
  });

  it('asks again for a sync that timed out, backing off, and joins rooms asked for meanwhile only after it', async () => {
    const sc = roomsScript({ unansweredSyncs: 2 });
    const socket = new ChatSocket({ getUrl: () => Promise.resolve('ws://scripted'), createSocket: sc.createSocket, requestTimeoutMs: 50, random: () => 0 });
    const synced = vi.fn();
    socket.on('synced', (e) => synced(e.rooms.map((r) => r.id)));
    socket.start();
    await vi.advanceTimersByTimeAsync(0);
    void socket.join('random');
    await vi.advanceTimersByTimeAsync(50 + 250 + 50 + 500);
    expect(synced.mock.calls).toEqual([[['lobby']]]);
    const syncs = sentOf(sc, 'sync');
    expect(syncs.map((f) => f.at - syncs[0]!.at)).toEqual([0, 50 + 250, 50 + 250 + 50 + 500]);
    // The join waited for the sync (which might have seated it), then went once.
    const joins = sentOf(sc, 'joinroom');
    expect(joins.map((f) => f.at - syncs[0]!.at)).toEqual([50 + 250 + 50 + 500]);
    expect(socket.followedRooms()).toEqual(['lobby', 'random']);
    socket.stop();
  });
});
