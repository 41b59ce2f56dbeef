/**
 * One followed room: seated on the current socket or not, and complete up to
 * which seq. It is seated by the socket's `sync` (or by a joinroom when the
 * app asks for it), loads the newest page when first opened, catches up from
 * its last seq, and fills seq gaps from history, so the app is handed every
 * message once. Edits and deletes take seqs of their own: they count as seen
 * like messages, so they never look like a gap.
 */
import { DEFAULT_ROOM, LIMITS, type ChatMessage, type ClientActionInput, type EventOf, type MyRoom, type RoomChange, type ServerEventType } from '../../amplify/core/protocol';
import { isRetryable } from './backoff';
import { SeqTracker } from './sequence';
import { ChatError, type ChatSocketEvents } from './types';

/**
 * idle: not seated on this socket, and not asking (offline, or the socket is new);
 * joining: a joinroom is on the wire;
 * backoff: a join timed out, or was refused for now (home_unavailable…), and waits before it is asked again;
 * joined: seated (by `sync` or a joinroom): the server fans the room out to this socket, and its outbox may drain.
 */
export type JoinState = 'idle' | 'joining' | 'backoff' | 'joined';
/** At most one history request per room at a time: the newest page, or a catch-up page after the last seq. */
export type FetchState = 'idle' | 'newest' | 'after';

type RoomEvent = 'joined' | 'messages' | 'changes' | 'reset' | 'error';

export interface RoomHost {
  /** Sends a request the client reissues itself after a reconnect. */
  request<T extends ServerEventType>(action: ClientActionInput, expect: T): Promise<EventOf<T>>;
  isOpen(): boolean;
  emit<K extends RoomEvent>(type: K, payload: ChatSocketEvents[K]): void;
  retryDelay(attempt: number): number;
  /** The room is seated: its outbox and read marker may go. */
  onJoined(room: string): void;
  /** The server refused the join for good (deleted, or access lost). */
  onRefused(room: string, error: ChatError): void;
}

export interface RoomSyncOptions {
  pageSize: number;
  maxCatchUp: number;
  gapGraceMs: number;
  holeRetryMs: number;
}

/** Hole re-checks: holeRetryMs doubling 6 times spans ~63 s at the default, past the server's 30 s settle time. */
const MAX_STALLS = 6;
/** A history request that fails (unanswered, or refused after the request's own retries) is asked again this often before the app is told. */
const MAX_FETCH_RETRIES = 5;

export class RoomSync {
  state: JoinState = 'idle';
  fetch: FetchState = 'idle';
  readonly tracker = new SeqTracker();
  /** The latest `joined` reply, for callers asking to join a room already joined. */
  last: EventOf<'joined'> | undefined;
  /**
   * The app asked to join (join(), a roomadded) and no reply has confirmed it
   * yet: a room the server's list lacks is joined, not dropped.
   */
  requested = false;
  /** A `joined` reply (with the members list) arrived on this socket; a room seated by `sync` has none yet. */
  private fresh = false;
  /** A joinroom for a seated room's members is on the wire. */
  private asking = false;
  /** No longer followed: late replies are ignored. */
  private closed = false;
  /** Catch-up rounds in a row that made no progress, for the hole backoff. */
  private stalls = 0;
  /** Joins in a row that timed out or were refused for now, for the join backoff. */
  private joinTimeouts = 0;
  /** History requests in a row that failed, for the fetch backoff. */
  private fetchFailures = 0;
  private gapTimer?: ReturnType<typeof setTimeout>;
  private joinTimer?: ReturnType<typeof setTimeout>;
  private waiters: { resolve: (e: EventOf<'joined'>) => void; reject: (e: ChatError) => void }[] = [];
  /** Edits and deletes waiting for the room to be seated (the server refuses them otherwise). */
  private seatWaiters: { resolve: () => void; reject: (e: ChatError) => void }[] = [];

  constructor(
    readonly id: string,
    private readonly host: RoomHost,
    private readonly opts: RoomSyncOptions,
  ) {}

  get joined(): boolean {
    return this.state === 'joined';
  }

  /** Resolves with the next `joined` reply, or at once when one arrived on this socket. The caller decides when to join(). */
  waitJoined(): Promise<EventOf<'joined'>> {
    if (this.joined && this.fresh && this.last) return Promise.resolve(this.last);
    return new Promise<EventOf<'joined'>>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Resolves once the room is seated on an open socket: what an edit or delete needs. */
  waitSeated(): Promise<void> {
    if (this.joined && this.host.isOpen()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.seatWaiters.push({ resolve, reject }));
  }

  /**
   * Asks to join, unless it is asking, backing off, or there is no socket. A
   * room seated by `sync` is asked once per socket too, for its members list
   * (joinroom is idempotent on the server).
   */
  join(): void {
    if (!this.host.isOpen()) return;
    if (this.state === 'joined') return this.askMembers();
    if (this.state !== 'idle') return;
    this.state = 'joining';
    this.host.request({ action: 'joinroom', room: this.id }, 'joined').then(
      () => (this.joinTimeouts = 0),
      (err: unknown) => this.joinFailed(err),
    );
  }

  private askMembers(): void {
    if (this.fresh || this.asking) return;
    this.asking = true;
    this.host.request({ action: 'joinroom', room: this.id }, 'joined').then(
      () => (this.asking = false),
      (err: unknown) => {
        this.asking = false;
        const error = err instanceof ChatError ? err : new ChatError('internal', String(err));
        // Only the members list was missing: a transient failure leaves the room as it is, a refusal ends it.
        if (this.closed || ['disconnected', 'stopped', 'timeout'].includes(error.code) || isRetryable(error.code)) return;
        this.host.onRefused(this.id, error);
      },
    );
  }

  /** The server says this socket is not in the room (its record was lost): join again, then the outbox resends. */
  rejoin(): void {
    if (this.state === 'joined') this.state = 'idle';
    this.join();
  }

  /** A `joined` reply for this room, whoever asked for it. */
  onJoined(event: EventOf<'joined'>): void {
    this.last = event;
    this.fresh = true;
    this.host.emit('joined', event);
    this.seated(event.room.lastSeq);
    for (const w of this.waiters.splice(0)) w.resolve(event);
  }

  /** `sync` seated this socket in the room: as a join, less the members list, which a join() asks for. */
  onSynced(room: MyRoom): void {
    this.seated(room.lastSeq);
    if (this.waiters.length) this.askMembers();
  }

  /** Seated on this socket, the room complete up to `lastSeq` once caught up. */
  private seated(lastSeq: number): void {
    clearTimeout(this.joinTimer);
    this.joinTimer = undefined;
    this.state = 'joined';
    this.requested = false;
    const { tracker } = this;
    if (tracker.contiguous !== undefined && lastSeq - tracker.contiguous > this.opts.maxCatchUp) {
      tracker.reset();
      this.host.emit('reset', { room: this.id });
    }
    tracker.noteExists(lastSeq);
    if (tracker.contiguous === undefined) this.fetchNewest();
    else this.catchUp();
    this.host.onJoined(this.id);
    for (const w of this.seatWaiters.splice(0)) w.resolve();
  }

  onLiveMessage(msg: ChatMessage): void {
    if (this.tracker.accept(msg.seq)) this.host.emit('messages', { room: this.id, messages: [msg], source: 'live' });
    this.watchGap();
  }

  /** A live edit or delete (or the reply to our own): its seq is seen like a message's. */
  onLiveChange(change: RoomChange): void {
    if (this.tracker.accept(change.seq)) this.host.emit('changes', { room: this.id, changes: [change], source: 'live' });
    this.watchGap();
  }

  /** An ack proves its seq exists, so a lost broadcast of our own message is fetched too. */
  onAck(seq: number): void {
    this.tracker.noteExists(seq);
    this.watchGap();
  }

  /** The socket dropped: nothing is joined or in flight; the next socket joins again at once. */
  disconnected(): void {
    this.state = 'idle';
    this.fetch = 'idle';
    this.fresh = false;
    this.asking = false;
    this.clearTimers();
  }

  /** The client stopped: nothing waiting for a seat will get one. */
  stopped(error: ChatError): void {
    this.disconnected();
    for (const w of this.seatWaiters.splice(0)) w.reject(error);
  }

  /** No longer followed: stop every timer and fail whoever waits for the join. */
  close(error: ChatError): void {
    this.closed = true;
    this.clearTimers();
    for (const w of this.waiters.splice(0)) w.reject(error);
    for (const w of this.seatWaiters.splice(0)) w.reject(error);
  }

  private clearTimers(): void {
    clearTimeout(this.gapTimer);
    clearTimeout(this.joinTimer);
    this.gapTimer = this.joinTimer = undefined;
  }

  private joinFailed(err: unknown): void {
    if (this.closed || this.state !== 'joining') return;
    this.state = 'idle';
    const error = err instanceof ChatError ? err : new ChatError('internal', String(err));
    // A dropped socket is retried on the next open; a refusal is final, unless it says "later".
    if (error.code === 'disconnected' || error.code === 'stopped') return;
    // The lobby exists wherever the primary's replica has reached: "not found" there means "not here yet".
    const notHereYet = error.code === 'room_not_found' && this.id === DEFAULT_ROOM;
    if (error.code === 'timeout' || isRetryable(error.code) || notHereYet) {
      // An unanswered join is asked again, backing off: at once would only add to whatever is slow. A
      // retryable refusal that outlasted the request's own retries (a home region down for minutes) keeps the room too.
      this.state = 'backoff';
      this.joinTimer = setTimeout(() => {
        this.joinTimer = undefined;
        this.state = 'idle';
        this.join();
      }, this.host.retryDelay(this.joinTimeouts++));
      return;
    }
    this.host.onRefused(this.id, error);
  }

  /** Fan-out may arrive slightly out of order: wait gapGraceMs before fetching what is missing. */
  private watchGap(): void {
    if (!this.tracker.behind || this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      this.catchUp();
    }, this.opts.gapGraceMs);
  }

  /**
   * Takes a history page's messages, its skipped seqs (numbers that will never
   * hold a message) and its changes into the tracker; returns the messages and
   * changes not seen before. The page's messages already show its changes.
   */
  private acceptPage(page: EventOf<'history'>): { messages: ChatMessage[]; changes: RoomChange[] } {
    for (const seq of page.skipped ?? []) this.tracker.accept(seq);
    const changes = (page.changes ?? []).filter((c) => this.tracker.accept(c.seq));
    return { messages: page.messages.filter((m) => this.tracker.accept(m.seq)), changes };
  }

  /** After the page's messages, so a change to a message of an earlier page finds it loaded. */
  private emitChanges(changes: RoomChange[], source: 'initial' | 'catchup'): void {
    if (changes.length) this.host.emit('changes', { room: this.id, changes, source });
  }

  private fetchNewest(): void {
    if (this.fetch !== 'idle') return;
    this.fetch = 'newest';
    this.host
      .request({ action: 'history', room: this.id, limit: this.opts.pageSize }, 'history')
      .then((page) => {
        if (this.closed) return;
        this.fetch = 'idle';
        this.fetchFailures = 0;
        // Complete from just below this page; a hole inside it (a send still being written) stays open until filled.
        const lowest = Math.min(page.messages[0]?.seq ?? Infinity, ...(page.skipped ?? []), ...(page.changes ?? []).map((c) => c.seq));
        this.tracker.setBase(Number.isFinite(lowest) ? lowest - 1 : page.lastSeq);
        const fresh = this.acceptPage(page);
        this.tracker.noteExists(page.lastSeq);
        this.host.emit('messages', { room: this.id, messages: fresh.messages, source: 'initial', hasMore: page.hasMore });
        this.emitChanges(fresh.changes, 'initial');
        this.catchUp();
      })
      .catch((err: unknown) => this.fetchFailed(err, () => this.fetchNewest()));
  }

  /** Pages forward from the last contiguous seq until nothing is missing. */
  private catchUp(): void {
    const { tracker } = this;
    if (!this.joined || this.fetch !== 'idle' || tracker.contiguous === undefined || !tracker.behind) return;
    this.fetch = 'after';
    const from = tracker.contiguous;
    this.host
      .request({ action: 'history', room: this.id, after: from, limit: LIMITS.historyPageMax }, 'history')
      .then((page) => {
        if (this.closed) return;
        this.fetch = 'idle';
        this.fetchFailures = 0;
        const fresh = this.acceptPage(page);
        tracker.noteExists(page.lastSeq);
        if (fresh.messages.length) this.host.emit('messages', { room: this.id, messages: fresh.messages, source: 'catchup' });
        this.emitChanges(fresh.changes, 'catchup');
        const progressed = (tracker.contiguous ?? 0) > from;
        if (progressed) this.stalls = 0;
        if (page.hasMore || progressed) return this.catchUp();
        // A hole history cannot fill yet: a send still being written, or one whose writer died, which
        // the server settles as skipped after GAP_SETTLE_MS (30 s). Look again, backing off, for about a minute.
        if (tracker.behind && ++this.stalls <= MAX_STALLS) {
          this.gapTimer ??= setTimeout(() => {
            this.gapTimer = undefined;
            this.catchUp();
          }, this.opts.holeRetryMs * 2 ** (this.stalls - 1));
        }
      })
      .catch((err: unknown) => this.fetchFailed(err, () => this.catchUp()));
  }

  /**
   * A dropped socket needs nothing here: the next one joins and catches up.
   * Anything else is asked again, backing off: with no later message to
   * reveal the gap, a catch-up given up on would leave the room short for good.
   */
  private fetchFailed(err: unknown, again: () => void): void {
    this.fetch = 'idle';
    if (this.closed || (err instanceof ChatError && (err.code === 'disconnected' || err.code === 'stopped'))) return;
    if (this.fetchFailures < MAX_FETCH_RETRIES) {
      const delay = this.host.retryDelay(this.fetchFailures++);
      clearTimeout(this.gapTimer);
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        again();
      }, delay);
      return;
    }
    this.fetchFailures = 0;
    const error = err instanceof ChatError ? err : new ChatError('internal', String(err));
    this.host.emit('error', { code: error.code, message: `Could not load messages for #${this.id}: ${error.message}` });
  }
}
