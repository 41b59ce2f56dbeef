/**
 * Messages written but not yet acknowledged, one queue per room, and those
 * that failed for good (kept for a manual retry). Each room sends its oldest
 * message alone and waits for its ack, so messages land in the order written;
 * a clientMsgId makes every resend safe. The whole outbox is bounded.
 */
import type { EventOf } from '../../amplify/core/protocol';
import { MAX_RETRIES, RETRYABLE, WAITS_FOR_HOME } from './backoff';
import { ChatError, type ClientError } from './types';

/**
 * queued: waits its turn, or for its room to be joined on an open socket;
 * inflight: sent, its ack timeout running;
 * backoff: refused for now (rate_limited, home_unavailable…), goes again when its timer fires.
 */
export type OutgoingState = 'queued' | 'inflight' | 'backoff';

export interface Outgoing {
  readonly room: string;
  readonly clientMsgId: string;
  readonly frame: string;
  state: OutgoingState;
  attempts: number;
  /** Sent at least once, by this outbox or before a manual retry: every later copy says `retry: true`. */
  sent: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

export interface OutboxOptions {
  /** Sends one frame if the socket is open; false keeps the message queued. */
  send: (frame: string) => boolean;
  /** True when the room is joined on an open socket, the only time its queue drains. */
  canSend: (room: string) => boolean;
  /** A message failed for good; it waits in `failed` for retry or discard. */
  onFailed: (room: string, clientMsgId: string, error: ClientError) => void;
  ackTimeoutMs: number;
  retryDelay: (attempt: number, hintMs?: number) => number;
  /** The wait before try `attempt` of a send whose room's home region is down (see homeWaitDelay). */
  homeWaitDelay: (attempt: number, hintMs?: number) => number;
  /** Unacknowledged messages, all rooms together; the next send past it fails with `queue_full`. */
  maxMessages: number;
}

/**
 * What a server refusal of a send means for the caller. waiting: the room's
 * home region is down; it goes again later, without limit, and the user
 * should see it as waiting rather than failed.
 */
export type Refusal = 'rejoin' | 'retrying' | 'waiting' | 'failed';

/** The same sendmessage frame, marked as sent before (see `retry` in the protocol). */
const retryFrame = (frame: string): string => JSON.stringify({ ...(JSON.parse(frame) as object), retry: true });

export class Outbox {
  private readonly rooms = new Map<string, Outgoing[]>();
  private readonly failed = new Map<string, Outgoing>();
  private size = 0;

  constructor(private readonly opts: OutboxOptions) {}

  /** Queues a message at the back of its room's queue; throws `queue_full` instead when the outbox is full. */
  add(room: string, clientMsgId: string, frame: string): void {
    this.checkSpace();
    this.push({ room, clientMsgId, frame, state: 'queued', attempts: 0, sent: false });
  }

  /**
   * Queues a failed message again, keeping its clientMsgId so it cannot land
   * twice. A refusal (room not followed, outbox full) is reported like any
   * failure, and the message stays failed.
   */
  retry(clientMsgId: string, followed: (room: string) => boolean): void {
    const msg = this.failed.get(clientMsgId);
    if (!msg) return;
    if (!followed(msg.room)) return this.opts.onFailed(msg.room, clientMsgId, { code: 'not_joined', message: `Join #${msg.room} to post in it.` });
    try {
      this.checkSpace();
    } catch (err) {
      return this.opts.onFailed(msg.room, clientMsgId, { code: 'queue_full', message: (err as ChatError).message });
    }
    this.failed.delete(clientMsgId);
    this.push({ ...msg, state: 'queued', attempts: 0, timer: undefined });
  }

  discard(clientMsgId: string): void {
    this.failed.delete(clientMsgId);
  }

  /** The unacknowledged message with this id, in any room. */
  find(clientMsgId: string): Outgoing | undefined {
    for (const queue of this.rooms.values()) {
      const msg = queue.find((m) => m.clientMsgId === clientMsgId);
      if (msg) return msg;
    }
    return undefined;
  }

  /** Sends the room's oldest message, unless one of the room's is already in flight or waiting out a backoff. */
  pump(room: string): void {
    const head = this.rooms.get(room)?.[0];
    if (!head || head.state !== 'queued' || !this.opts.canSend(room)) return;
    if (!this.opts.send(head.sent ? retryFrame(head.frame) : head.frame)) return;
    head.state = 'inflight';
    head.sent = true;
    head.attempts++;
    head.timer = setTimeout(() => {
      head.timer = undefined;
      head.state = 'queued';
      this.pump(room);
    }, this.opts.ackTimeoutMs);
  }

  /** The server stored it: the message leaves the outbox (returned, if it was ours); pump the room next. */
  acked(room: string, clientMsgId: string | undefined): Outgoing | undefined {
    const queue = this.rooms.get(room);
    const index = queue && clientMsgId !== undefined ? queue.findIndex((m) => m.clientMsgId === clientMsgId) : -1;
    let msg: Outgoing | undefined;
    if (queue && index >= 0) {
      [msg] = queue.splice(index, 1);
      this.size--;
      this.idle(msg!);
    }
    return msg;
  }

  /**
   * The server refused a send. not_joined: the caller joins again and the
   * message goes after that. Transient: it goes again after a backoff.
   * home_unavailable: it goes again after the server's retryAfterMs, for as
   * long as the outage lasts. Anything else, or too many tries: it fails and
   * the next one goes.
   */
  refused(msg: Outgoing, event: EventOf<'error'>): Refusal {
    this.idle(msg);
    if (event.code === 'not_joined') return 'rejoin';
    if (WAITS_FOR_HOME.has(event.code)) {
      this.later(msg, this.opts.homeWaitDelay(msg.attempts, event.retryAfterMs));
      return 'waiting';
    }
    if (RETRYABLE.has(event.code) && msg.attempts < MAX_RETRIES) {
      this.later(msg, this.opts.retryDelay(msg.attempts, event.retryAfterMs));
      return 'retrying';
    }
    this.remove(msg);
    this.fail(msg, { code: event.code, message: event.message });
    this.pump(msg.room);
    return 'failed';
  }

  /** Backs off: the message stays at its room's head and goes again (marked `retry`) when the timer fires. */
  private later(msg: Outgoing, delayMs: number): void {
    msg.state = 'backoff';
    msg.timer = setTimeout(() => {
      msg.timer = undefined;
      msg.state = 'queued';
      this.pump(msg.room);
    }, delayMs);
  }

  /** Stops waiting for this message (the session ended unperformed); it stays at its room's head for the next socket. */
  hold(msg: Outgoing): void {
    this.idle(msg);
  }

  /** The socket dropped: nothing is in flight any more, and each room's head goes again after its re-join. */
  disconnected(): void {
    for (const queue of this.rooms.values()) for (const m of queue) this.idle(m);
  }

  /** The room is no longer followed: everything it still had queued fails with `error`. */
  dropRoom(room: string, error: ClientError): void {
    const queue = this.rooms.get(room) ?? [];
    this.rooms.delete(room);
    this.size -= queue.length;
    for (const m of queue) {
      this.idle(m);
      this.fail(m, error);
    }
  }

  /** Clears every timer; the messages stay where they are. */
  stop(): void {
    this.disconnected();
  }

  private checkSpace(): void {
    if (this.size >= this.opts.maxMessages) {
      throw new ChatError('queue_full', `${this.opts.maxMessages} messages are still waiting to be sent; try again once they have gone.`);
    }
  }

  private push(msg: Outgoing): void {
    let queue = this.rooms.get(msg.room);
    if (!queue) this.rooms.set(msg.room, (queue = []));
    queue.push(msg);
    this.size++;
    this.pump(msg.room);
  }

  private remove(msg: Outgoing): void {
    const queue = this.rooms.get(msg.room);
    const index = queue ? queue.indexOf(msg) : -1;
    if (index < 0) return;
    queue!.splice(index, 1);
    this.size--;
  }

  private fail(msg: Outgoing, error: ClientError): void {
    this.failed.set(msg.clientMsgId, msg);
    this.opts.onFailed(msg.room, msg.clientMsgId, error);
  }

  private idle(msg: Outgoing): void {
    clearTimeout(msg.timer);
    msg.timer = undefined;
    msg.state = 'queued';
  }
}
