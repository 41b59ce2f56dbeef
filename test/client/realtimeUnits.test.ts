/** The socket's state machines one at a time, on fake timers, with no socket at all. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventOf } from '../../amplify/core/protocol';
import { MAX_RETRIES } from '../../src/realtime/backoff';
import { Outbox } from '../../src/realtime/outbox';
import { ReadMarker } from '../../src/realtime/readMarker';
import { RequestTracker } from '../../src/realtime/requests';
import { TypingThrottle } from '../../src/realtime/typingThrottle';
import { ChatError, type ClientError } from '../../src/realtime/types';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const refusal = (code: EventOf<'error'>['code'], extra: Partial<EventOf<'error'>> = {}): EventOf<'error'> => ({ type: 'error', code, message: code, ...extra });
const frameOf = (room: string, clientMsgId: string) => JSON.stringify({ action: 'sendmessage', room, message: 'hi', clientMsgId });

function outbox(opts: { maxMessages?: number; open?: () => boolean } = {}) {
  const sent: { clientMsgId: string; retry?: boolean }[] = [];
  const failed: { clientMsgId: string; error: ClientError }[] = [];
  const box = new Outbox({
    send: (frame) => {
      if (opts.open && !opts.open()) return false;
      sent.push(JSON.parse(frame) as { clientMsgId: string; retry?: boolean });
      return true;
    },
    canSend: () => true,
    onFailed: (_room, clientMsgId, error) => failed.push({ clientMsgId, error }),
    ackTimeoutMs: 100,
    retryDelay: (attempt, hint) => hint ?? 10 * (attempt + 1),
    homeWaitDelay: (attempt, hint) => (hint ?? 1000) * attempt,
    maxMessages: opts.maxMessages ?? 10,
  });
  return { box, sent, failed };
}

describe('Outbox', () => {
  it('sends one message per room at a time, the next on each ack, rooms independently', () => {
    const { box, sent } = outbox();
    box.add('a', 'a1', frameOf('a', 'a1'));
    box.add('a', 'a2', frameOf('a', 'a2'));
    box.add('b', 'b1', frameOf('b', 'b1'));
    expect(sent.map((f) => f.clientMsgId)).toEqual(['a1', 'b1']);
    expect(box.acked('a', 'a1')?.clientMsgId).toBe('a1');
    box.pump('a');
    expect(sent.map((f) => f.clientMsgId)).toEqual(['a1', 'b1', 'a2']);
  });

  it('sends the head again after the ack timeout, marked as a retry', async () => {
    const { box, sent } = outbox();
    box.add('a', 'a1', frameOf('a', 'a1'));
    await vi.advanceTimersByTimeAsync(99);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual([expect.not.objectContaining({ retry: true }), expect.objectContaining({ clientMsgId: 'a1', retry: true })]);
  });

  it('backs off on a retryable refusal, honouring retryAfterMs, and fails after MAX_RETRIES tries', async () => {
    const { box, sent, failed } = outbox();
    box.add('a', 'a1', frameOf('a', 'a1'));
    const head = box.find('a1')!;
    expect(box.refused(head, refusal('rate_limited', { retryAfterMs: 50 }))).toBe('retrying');
    expect(head.state).toBe('backoff');
    await vi.advanceTimersByTimeAsync(49);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(2);
    for (let i = 2; i < MAX_RETRIES; i++) {
      box.refused(head, refusal('unavailable'));
      // Exactly the backoff, so no ack timeout (100 ms) adds sends of its own.
      await vi.advanceTimersByTimeAsync(10 * (head.attempts + 1));
    }
    expect(sent).toHaveLength(MAX_RETRIES);
    expect(box.refused(head, refusal('unavailable'))).toBe('failed');
    expect(failed).toEqual([{ clientMsgId: 'a1', error: { code: 'unavailable', message: 'unavailable' } }]);
  });

  it('keeps a send refused with home_unavailable waiting past MAX_RETRIES, each try after the wait, same clientMsgId marked retry', async () => {
    const { box, sent, failed } = outbox();
    box.add('a', 'a1', frameOf('a', 'a1'));
    box.add('a', 'a2', frameOf('a', 'a2'));
    const head = box.find('a1')!;
    for (let i = 1; i <= MAX_RETRIES + 2; i++) {
      expect(box.refused(head, refusal('home_unavailable', { retryAfterMs: 40 }))).toBe('waiting');
      expect(head.state).toBe('backoff');
      // Not a moment before the wait (40 ms times the try, in this outbox's waitDelay).
      await vi.advanceTimersByTimeAsync(40 * i - 1);
      expect(sent).toHaveLength(i);
      await vi.advanceTimersByTimeAsync(1);
      expect(sent).toHaveLength(i + 1);
    }
    expect(failed).toEqual([]);
    expect(new Set(sent.map((f) => f.clientMsgId))).toEqual(new Set(['a1']));
    expect(sent.slice(1).every((f) => f.retry === true)).toBe(true);
    // The room's next message waits behind it, and goes once it lands.
    box.acked('a', 'a1');
    box.pump('a');
    expect(sent.at(-1)).toMatchObject({ clientMsgId: 'a2' });
  });

  it('asks for a re-join on not_joined and keeps the message at the head', () => {
    const { box, sent } = outbox();
    box.add('a', 'a1', frameOf('a', 'a1'));
    box.add('a', 'a2', frameOf('a', 'a2'));
    expect(box.refused(box.find('a1')!, refusal('not_joined'))).toBe('rejoin');
    box.pump('a');
    expect(sent.map((f) => f.clientMsgId)).toEqual(['a1', 'a1']);
  });

  it('refuses past maxMessages with queue_full, counting every room, and frees room on ack', () => {
    const { box } = outbox({ maxMessages: 2 });
    box.add('a', 'a1', frameOf('a', 'a1'));
    box.add('b', 'b1', frameOf('b', 'b1'));
    expect(() => box.add('c', 'c1', frameOf('c', 'c1'))).toThrow(expect.objectContaining({ code: 'queue_full' }));
    box.acked('a', 'a1');
    expect(() => box.add('c', 'c1', frameOf('c', 'c1'))).not.toThrow();
  });

  it('fails everything of a room it drops, and a retry of those goes out again with retry: true', () => {
    const { box, sent, failed } = outbox();
    box.add('a', 'a1', frameOf('a', 'a1'));
    box.dropRoom('a', { code: 'not_joined', message: 'left' });
    expect(failed.map((f) => f.clientMsgId)).toEqual(['a1']);
    box.retry('a1', () => true);
    expect(sent.at(-1)).toMatchObject({ clientMsgId: 'a1', retry: true });
  });
});

describe('RequestTracker', () => {
  function tracker(maxQueued = 10) {
    let open = false;
    const sent: { action: string; reqId: string }[] = [];
    let n = 0;
    const t = new RequestTracker({
      send: (frame) => {
        if (!open) return false;
        sent.push(JSON.parse(frame) as { action: string; reqId: string });
        return true;
      },
      newId: () => `r${++n}`,
      timeoutMs: 1_000,
      retryDelay: (_attempt, hint) => hint ?? 20,
      maxQueued,
    });
    return { t, sent, setOpen: (up: boolean) => (open = up) };
  }
  const frame = (action: object) => (reqId: string) => JSON.stringify({ ...action, reqId });

  it('queues while there is no socket, in the order asked, and sends them all when one opens', () => {
    const { t, sent, setOpen } = tracker();
    void t.request({ action: 'listrooms' }, 'rooms', frame({ action: 'listrooms' }));
    void t.request({ action: 'history', room: 'lobby' }, 'history', frame({ action: 'history', room: 'lobby' }));
    expect(sent).toEqual([]);
    setOpen(true);
    t.flush();
    expect(sent.map((f) => f.reqId)).toEqual(['r1', 'r2']);
  });

  it('rejects with queue_full past maxQueued, but never a request the client reissues itself', async () => {
    const { t } = tracker(1);
    const first = t.request({ action: 'listrooms' }, 'rooms', frame({ action: 'listrooms' }));
    await expect(t.request({ action: 'listrooms' }, 'rooms', frame({ action: 'listrooms' }))).rejects.toMatchObject({ code: 'queue_full' });
    const join = t.request({ action: 'joinroom', room: 'x' }, 'joined', frame({ action: 'joinroom', room: 'x' }), { reissued: true });
    t.stop(new ChatError('stopped', 'stopped'));
    await expect(first).rejects.toMatchObject({ code: 'stopped' });
    await expect(join).rejects.toMatchObject({ code: 'stopped' });
  });

  it('after a drop, sends reads again and fails anything else as disconnected', async () => {
    const { t, sent, setOpen } = tracker();
    setOpen(true);
    const read = t.request({ action: 'listrooms' }, 'rooms', frame({ action: 'listrooms' }), { resend: true });
    const write = t.request({ action: 'createroom', room: 'x' }, 'joined', frame({ action: 'createroom', room: 'x' }));
    setOpen(false);
    t.disconnected();
    await expect(write).rejects.toMatchObject({ code: 'disconnected' });
    setOpen(true);
    t.flush();
    expect(sent.map((f) => f.reqId)).toEqual(['r1', 'r2', 'r1']);
    expect(t.answer({ type: 'rooms', rooms: [], reqId: 'r1' })).toBe(true);
    await expect(read).resolves.toMatchObject({ type: 'rooms' });
  });

  it('retries a rate-limited request after the server says, and times out one never answered', async () => {
    const { t, sent, setOpen } = tracker();
    setOpen(true);
    const req = t.request({ action: 'listrooms' }, 'rooms', frame({ action: 'listrooms' }));
    expect(t.answer(refusal('rate_limited', { reqId: 'r1', retryAfterMs: 40 }))).toBe(true);
    await vi.advanceTimersByTimeAsync(39);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(2);
    const outcome = expect(req).rejects.toMatchObject({ code: 'timeout' });
    await vi.advanceTimersByTimeAsync(1_000);
    await outcome;
  });
});

describe('TypingThrottle', () => {
  it('lets one typing frame through per interval, and again at once after a send', () => {
    const th = new TypingThrottle(3_000);
    expect(th.take('a', 0)).toBe(true);
    expect(th.take('a', 2_999)).toBe(false);
    expect(th.take('b', 2_999)).toBe(true);
    expect(th.take('a', 3_000)).toBe(true);
    th.reset('a');
    expect(th.take('a', 3_001)).toBe(true);
  });
});

describe('ReadMarker', () => {
  function marker(open = () => true) {
    const sent: number[] = [];
    const replies: { resolve: (stored: number) => void; reject: (e: ChatError) => void }[] = [];
    const m = new ReadMarker({
      send: (seq) => {
        sent.push(seq);
        return new Promise<number>((resolve, reject) => replies.push({ resolve, reject }));
      },
      canSend: open,
    });
    return { m, sent, replies };
  }

  it('keeps one read in flight and only the latest wish behind it', async () => {
    const { m, sent, replies } = marker();
    m.mark(3);
    m.mark(5);
    m.mark(4);
    m.mark(9);
    expect(sent).toEqual([3]);
    replies.shift()!.resolve(3);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([3, 9]);
    // The server may hold more than was asked (another device read further): that counts as acknowledged.
    replies.shift()!.resolve(12);
    await vi.advanceTimersByTimeAsync(0);
    m.mark(11);
    expect(sent).toEqual([3, 9]);
    expect(m.acked).toBe(12);
  });

  it('waits while the room cannot take it, keeps a wish a dropped socket lost, and drops one the server refused', async () => {
    let open = false;
    const { m, sent, replies } = marker(() => open);
    m.mark(4);
    expect(sent).toEqual([]);
    open = true;
    m.pump();
    expect(sent).toEqual([4]);
    replies.shift()!.reject(new ChatError('disconnected', 'gone'));
    await vi.advanceTimersByTimeAsync(0);
    m.pump();
    expect(sent).toEqual([4, 4]);
    replies.shift()!.reject(new ChatError('bad_request', 'past the end'));
    await vi.advanceTimersByTimeAsync(0);
    m.pump();
    expect(sent).toEqual([4, 4]);
    // A read heard from elsewhere covers a wish not sent yet.
    open = false;
    m.mark(6);
    m.acknowledged(7);
    open = true;
    m.pump();
    expect(sent).toEqual([4, 4]);
  });
});
