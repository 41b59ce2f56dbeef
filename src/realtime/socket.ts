/**
 * Parley's realtime client: the chat protocol on top of a self-healing
 * Connection. It queues while offline, sends each room's messages one at a
 * time with an idempotency key, re-joins and catches up after a reconnect,
 * and fills seq gaps from history, so the app sees every message once.
 */
import {
  DEFAULT_ROOM,
  LIMITS,
  messageTextProblem,
  type ChatMessage,
  type ClientActionInput,
  type ErrorCode,
  type EventOf,
  type MessageTextProblem,
  type RoomSummary,
  type ServerEvent,
  type ServerEventType,
} from '../../amplify/core/protocol';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff';
import { Connection, type ConnectionOptions } from './connection';
import { Emitter } from './emitter';
import { SeqTracker } from './sequence';
import { ChatError, type ClientError, type ConnectionState } from './types';

export { ChatError } from './types';
export type { ClientError, ConnectionState } from './types';

export interface ChatSocketOptions extends ConnectionOptions {
  /** A sent message with no ack after this long is sent again (same clientMsgId, so never twice). */
  ackTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Fan-out may arrive slightly out of order; wait this long before fetching a gap. */
  gapGraceMs?: number;
  /** Size of the newest page loaded when a room is first opened. */
  pageSize?: number;
  /** Room-list pages to follow; the server sends about 100 rooms a page. */
  maxRoomPages?: number;
  /** Further behind than this after a reconnect, and the room starts afresh from its newest page. */
  maxCatchUp?: number;
  typingIntervalMs?: number;
  /** First wait before looking again at a seq hole history could not fill. */
  holeRetryMs?: number;
  newId?: () => string;
}

export type MessageSource = 'live' | 'initial' | 'catchup' | 'older';

/**
 * A public room is named by its creator; a private room gets an unguessable
 * id from the server (read it from the `joined` reply) and needs a display name.
 */
export type CreateRoomRequest = { private?: false; room: string; name?: string } | { private: true; name: string; invite?: readonly string[] };

export interface ChatSocketEvents {
  state: ConnectionState;
  /** Messages the app has not been given before (older pages may repeat; merge by seq). */
  messages: { room: string; messages: ChatMessage[]; source: MessageSource; hasMore?: boolean };
  /** The room was too far behind to catch up; drop what is shown and start from the pages that follow. */
  reset: { room: string };
  ack: { room: string; clientMsgId: string; seq: number; id: string; ts: number };
  sendfailed: { room: string; clientMsgId: string; error: ClientError };
  joined: EventOf<'joined'>;
  /** A room could not be joined again (deleted, or access lost) and is no longer followed. */
  joinfailed: { room: string; error: ClientError };
  left: { room: string };
  presence: EventOf<'presence'>;
  typing: EventOf<'typing'>;
  rooms: RoomSummary[];
  /** Server errors tied to nothing the client tracks. */
  error: ClientError;
}

interface Outgoing {
  room: string;
  clientMsgId: string;
  frame: string;
  inflight: boolean;
  attempts: number;
  /** Sent at least once, by this outbox or before a manual retry. */
  sent?: boolean;
  ackTimer?: ReturnType<typeof setTimeout>;
  retryTimer?: ReturnType<typeof setTimeout>;
}

interface RoomSync {
  id: string;
  /** Joined on the current connection; the outbox only drains while true. */
  joined: boolean;
  joining: boolean;
  tracker: SeqTracker;
  fetching: boolean;
  stalls: number;
  gapTimer?: ReturnType<typeof setTimeout>;
  /** A join that timed out waits this out before it is asked again; joinTimeouts counts them, for the backoff. */
  joinTimer?: ReturnType<typeof setTimeout>;
  joinTimeouts: number;
  outbox: Outgoing[];
  /** The latest `joined` reply, for callers asking to join a room already joined. */
  last?: EventOf<'joined'>;
  waiters: { resolve: (e: EventOf<'joined'>) => void; reject: (e: ChatError) => void }[];
}

interface PendingRequest {
  /** The action asked for, e.g. `createroom`. */
  action: ClientActionInput['action'];
  frame: string;
  expect: ServerEventType;
  resolve: (e: ServerEvent) => void;
  reject: (e: ChatError) => void;
  /** Safe to send again after a reconnect (reads); otherwise it fails with `disconnected`. */
  resend: boolean;
  /** Asked again by the client itself after every reconnect (joins, catch-up), so never queued for one. */
  reissued: boolean;
  sent: boolean;
  retries: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** Server refusals that mean "later", not "never". */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['rate_limited', 'unavailable', 'internal']);
/**
 * The server ended this socket's session and closes it next: its token expired,
 * or it lost the socket's rooms. The action was not performed, so nothing has
 * failed; it goes again on the next connection, which starts at once.
 */
const SESSION_ENDED: ReadonlySet<ErrorCode> = new Set(['token_expired', 'session_lost']);
const MAX_RETRIES = 5;
/** Hole re-checks: holeRetryMs doubling 6 times spans ~63 s at the default, past the server's 30 s settle time. */
const MAX_STALLS = 6;
const encoder = new TextEncoder();
/** The same sendmessage frame, marked as sent before. */
const retryFrame = (frame: string): string => JSON.stringify({ ...(JSON.parse(frame) as object), retry: true });

export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The server's text rule (shared from core), worded for the person typing. */
function textProblemSentence(problem: MessageTextProblem): string {
  if (problem.code === 'empty') return 'Type a message first.';
  if (problem.code === 'text_too_long') return `Messages can be at most ${LIMITS.maxTextChars.toLocaleString('en')} characters.`;
  return `${problem.message.charAt(0).toUpperCase()}${problem.message.slice(1)}.`;
}

function checkFrame(frame: string): void {
  const bytes = encoder.encode(frame).byteLength;
  if (bytes > LIMITS.maxFrameBytes) {
    throw new ChatError('frame_too_large', `That is too much to send at once (${Math.ceil(bytes / 1024)} KiB; the limit is ${LIMITS.maxFrameBytes / 1024} KiB).`);
  }
}

export class ChatSocket extends Emitter<ChatSocketEvents> {
  readonly connection: Connection;
  private readonly rooms = new Map<string, RoomSync>();
  private readonly failed = new Map<string, Outgoing>();
  private readonly requests = new Map<string, PendingRequest>();
  /** reqIds waiting for a socket, in the order they were asked for. */
  private queue: string[] = [];
  private readonly typingSent = new Map<string, number>();
  private running = false;
  private readonly opts: Required<Omit<ChatSocketOptions, keyof ConnectionOptions>>;
  /** How long to wait before retry `attempt` (0-based), unless the server said (`retryAfterMs`). */
  private readonly retryDelay: (attempt: number, hintMs?: number) => number;

  constructor(opts: ChatSocketOptions) {
    super();
    this.opts = {
      ackTimeoutMs: 10_000,
      requestTimeoutMs: 15_000,
      gapGraceMs: 300,
      pageSize: LIMITS.historyPageDefault,
      maxRoomPages: 50,
      maxCatchUp: 1_000,
      typingIntervalMs: 3_000,
      holeRetryMs: 1_000,
      newId,
      ...opts,
    };
    // Retries back off with the same jitter source as reconnects, so tests can fix it.
    const random = opts.random ?? Math.random;
    this.retryDelay = (attempt, hintMs) => hintMs ?? backoffDelay(attempt, DEFAULT_BACKOFF, random);
    this.connection = new Connection(opts);
    this.connection.on('state', (s) => this.emit('state', s));
    this.connection.on('open', () => this.onOpen());
    this.connection.on('close', () => this.onClose());
    this.connection.on('frame', (e) => this.onFrame(e));
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Starts connecting; the lobby is followed from the start, as the server seats everyone there. */
  start(rooms: readonly string[] = [DEFAULT_ROOM]): void {
    if (this.running) return;
    this.running = true;
    for (const r of rooms) this.ensureRoom(r);
    this.connection.start();
  }

  stop(): void {
    this.running = false;
    this.connection.stop();
    for (const [reqId, req] of this.requests) this.settle(reqId, req, new ChatError('stopped', 'The chat connection was closed.'));
    this.queue = [];
    for (const sync of this.rooms.values()) {
      clearTimeout(sync.gapTimer);
      for (const m of sync.outbox) this.clearOutgoing(m);
    }
  }

  /** Rooms the client follows, in the order they were joined. */
  followedRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** Last seq up to which this room is complete, if a first page has loaded. */
  lastSeq(room: string): number | undefined {
    return this.rooms.get(room)?.tracker.contiguous;
  }

  // ------------------------------------------------------------ rooms

  /** Follows a room: joins it now or on the next connection, and keeps it joined across reconnects. */
  join(room: string): Promise<EventOf<'joined'>> {
    const sync = this.ensureRoom(room);
    if (sync.joined && sync.last) return Promise.resolve(sync.last);
    const joined = new Promise<EventOf<'joined'>>((resolve, reject) => sync.waiters.push({ resolve, reject }));
    this.sendJoin(sync);
    return joined;
  }

  async leave(room: string): Promise<void> {
    const sync = this.rooms.get(room);
    if (!sync) return;
    this.forget(sync, new ChatError('not_joined', `You left #${room}.`));
    if (!this.connection.isOpen) return;
    await this.request({ action: 'leaveroom', room }, 'left').catch(() => undefined);
  }

  /** Creates a room and joins it; the reply's `room.id` is the room's id (for a private room, made by the server). */
  createRoom(input: CreateRoomRequest): Promise<EventOf<'joined'>> {
    const action: ClientActionInput = input.private
      ? { action: 'createroom', private: true, name: input.name, invite: [...(input.invite ?? [])] }
      : { action: 'createroom', room: input.room, ...(input.name === undefined ? {} : { name: input.name }) };
    return this.request(action, 'joined');
  }

  /**
   * Every room this user can see, following the server's pages (each reply
   * fits one API Gateway message), up to `maxRoomPages` of them.
   */
  async listRooms(): Promise<RoomSummary[]> {
    const byId = new Map<string, RoomSummary>();
    let cursor: string | undefined;
    for (let page = 0; page < this.opts.maxRoomPages; page++) {
      const res = await this.request({ action: 'listrooms', ...(cursor ? { cursor } : {}) }, 'rooms', { resend: true });
      for (const room of res.rooms) byId.set(room.id, room);
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    const rooms = [...byId.values()];
    this.emit('rooms', rooms);
    return rooms;
  }

  /** Loads the page below `before`; the messages also arrive as a `messages` event with source `older`. */
  async loadOlder(room: string, before: number, limit = this.opts.pageSize): Promise<EventOf<'history'>> {
    const res = await this.request({ action: 'history', room, before, limit }, 'history', { resend: true });
    this.emit('messages', { room, messages: res.messages, source: 'older', hasMore: res.hasMore });
    return res;
  }

  /** Tells the room you are typing, at most once per interval and never while offline. */
  typing(room: string): void {
    const sync = this.rooms.get(room);
    if (!sync?.joined || !this.connection.isOpen) return;
    const now = Date.now();
    if (now - (this.typingSent.get(room) ?? 0) < this.opts.typingIntervalMs) return;
    this.typingSent.set(room, now);
    this.connection.send(JSON.stringify({ action: 'typing', room } satisfies ClientActionInput));
  }

  // ------------------------------------------------------------ messages

  /**
   * Queues a message and returns its clientMsgId at once (for an optimistic
   * row). Throws ChatError for what can never be sent, before anything is queued.
   */
  sendMessage(room: string, text: string): string {
    const problem = messageTextProblem(text);
    if (problem) throw new ChatError(problem.code, textProblemSentence(problem));
    const sync = this.rooms.get(room);
    if (!sync) throw new ChatError('not_joined', `Join #${room} to post in it.`);
    const clientMsgId = this.opts.newId();
    const frame = JSON.stringify({ action: 'sendmessage', room, message: text, clientMsgId } satisfies ClientActionInput);
    checkFrame(frame);
    sync.outbox.push({ room, clientMsgId, frame, inflight: false, attempts: 0 });
    // Others stop showing us as typing when our message lands; the next keystroke should say so again.
    this.typingSent.delete(room);
    this.pump(sync);
    return clientMsgId;
  }

  /** Sends a failed message again, with its original clientMsgId so it cannot land twice. */
  retry(clientMsgId: string): void {
    const msg = this.failed.get(clientMsgId);
    if (!msg) return;
    this.failed.delete(clientMsgId);
    const sync = this.rooms.get(msg.room);
    if (!sync) {
      this.emit('sendfailed', { room: msg.room, clientMsgId, error: { code: 'not_joined', message: `Join #${msg.room} to post in it.` } });
      this.failed.set(clientMsgId, msg);
      return;
    }
    sync.outbox.push({ ...msg, inflight: false, attempts: 0, ackTimer: undefined, retryTimer: undefined });
    this.pump(sync);
  }

  discard(clientMsgId: string): void {
    this.failed.delete(clientMsgId);
  }

  // ------------------------------------------------------------ internals: requests

  private request<T extends ServerEventType>(action: ClientActionInput, expect: T, opts: { resend?: boolean; reissued?: boolean } = {}): Promise<EventOf<T>> {
    return new Promise<EventOf<T>>((resolve, reject) => {
      if (!this.running) return reject(new ChatError('stopped', 'The chat connection was closed.'));
      const reqId = this.opts.newId();
      const frame = JSON.stringify({ ...action, reqId });
      try {
        checkFrame(frame);
      } catch (err) {
        return reject(err);
      }
      const req: PendingRequest = {
        action: action.action,
        frame,
        expect,
        resolve: resolve as (e: ServerEvent) => void,
        reject,
        resend: opts.resend ?? false,
        reissued: opts.reissued ?? false,
        sent: false,
        retries: 0,
      };
      this.requests.set(reqId, req);
      if (!this.transmit(reqId, req)) this.queue.push(reqId);
    });
  }

  private transmit(reqId: string, req: PendingRequest): boolean {
    if (!this.connection.send(req.frame)) return false;
    req.sent = true;
    clearTimeout(req.timer);
    req.timer = setTimeout(() => this.settle(reqId, req, new ChatError('timeout', 'The server did not answer in time.')), this.opts.requestTimeoutMs);
    return true;
  }

  private settle(reqId: string, req: PendingRequest, outcome: ServerEvent | ChatError): void {
    clearTimeout(req.timer);
    this.requests.delete(reqId);
    if (outcome instanceof ChatError) req.reject(outcome);
    else req.resolve(outcome);
  }

  /** Routes a reply to the request that asked for it; true when one did. */
  private answer(event: ServerEvent): boolean {
    const reqId = 'reqId' in event ? event.reqId : undefined;
    const req = reqId ? this.requests.get(reqId) : undefined;
    if (!reqId || !req) return false;
    if (event.type === 'error') {
      if (TRANSIENT.has(event.code) && req.retries < MAX_RETRIES) {
        req.retries++;
        clearTimeout(req.timer);
        req.timer = setTimeout(() => {
          if (!this.transmit(reqId, req)) {
            req.sent = false;
            this.queue.push(reqId);
          }
        }, this.retryDelay(req.retries, event.retryAfterMs));
        return true;
      }
      this.settle(reqId, req, new ChatError(event.code, event.message, event.retryAfterMs));
      return true;
    }
    if (event.type !== req.expect) return false;
    this.settle(reqId, req, event);
    return true;
  }

  // ------------------------------------------------------------ internals: connection lifecycle

  private onOpen(): void {
    for (const sync of this.rooms.values()) this.sendJoin(sync);
    // Every connection starts seated in the lobby; step out if this user left it.
    if (!this.rooms.has(DEFAULT_ROOM)) this.request({ action: 'leaveroom', room: DEFAULT_ROOM }, 'left', { reissued: true }).catch(() => undefined);
    const queued = this.queue;
    this.queue = [];
    for (const reqId of queued) {
      const req = this.requests.get(reqId);
      if (req && !this.transmit(reqId, req)) this.queue.push(reqId);
    }
  }

  private onClose(): void {
    const again: string[] = [];
    for (const [reqId, req] of this.requests) {
      if (!req.sent) continue;
      clearTimeout(req.timer);
      if (req.resend) {
        req.sent = false;
        again.push(reqId);
      } else {
        this.settle(reqId, req, new ChatError('disconnected', 'The connection dropped before the server answered.'));
      }
    }
    // Reads that were in flight go first, in the order they were asked.
    this.queue = [...again, ...this.queue];
    for (const sync of this.rooms.values()) {
      sync.joined = sync.joining = sync.fetching = false;
      clearTimeout(sync.gapTimer);
      sync.gapTimer = undefined;
      // The next open re-joins at once; a backoff belongs to the socket that timed out.
      clearTimeout(sync.joinTimer);
      sync.joinTimer = undefined;
      // The unacked head goes again after the re-join; its clientMsgId makes that safe.
      for (const m of sync.outbox) this.clearOutgoing(m);
    }
  }

  private onFrame(event: ServerEvent): void {
    switch (event.type) {
      case 'message':
        return this.onLiveMessage(event);
      case 'ack':
        return this.onAck(event);
      case 'joined':
        this.onJoined(event);
        this.answer(event);
        return;
      case 'left':
        if (!this.answer(event)) this.emit('left', { room: event.room });
        return;
      case 'presence':
        if (this.rooms.get(event.room)?.joined) this.emit('presence', event);
        return;
      case 'typing':
        if (this.rooms.get(event.room)?.joined) this.emit('typing', event);
        return;
      case 'rooms':
        // Pages answer listRooms, which announces the whole list once it has it.
        this.answer(event);
        return;
      case 'history':
      case 'pong':
        this.answer(event);
        return;
      case 'error':
        return this.onError(event);
    }
  }

  // ------------------------------------------------------------ internals: rooms and catch-up

  private ensureRoom(id: string): RoomSync {
    let sync = this.rooms.get(id);
    if (!sync) {
      sync = { id, joined: false, joining: false, tracker: new SeqTracker(), fetching: false, stalls: 0, joinTimeouts: 0, outbox: [], waiters: [] };
      this.rooms.set(id, sync);
    }
    return sync;
  }

  private forget(sync: RoomSync, error: ChatError): void {
    this.rooms.delete(sync.id);
    clearTimeout(sync.gapTimer);
    clearTimeout(sync.joinTimer);
    for (const m of sync.outbox) {
      this.clearOutgoing(m);
      this.failed.set(m.clientMsgId, m);
      this.emit('sendfailed', { room: sync.id, clientMsgId: m.clientMsgId, error });
    }
    sync.outbox = [];
    for (const w of sync.waiters.splice(0)) w.reject(error);
  }

  private sendJoin(sync: RoomSync): void {
    if (sync.joined || sync.joining || sync.joinTimer || !this.connection.isOpen) return;
    sync.joining = true;
    this.request({ action: 'joinroom', room: sync.id }, 'joined', { reissued: true }).then(
      () => (sync.joinTimeouts = 0),
      (err: unknown) => this.onJoinFailed(sync, err),
    );
  }

  private onJoinFailed(sync: RoomSync, err: unknown): void {
    if (this.rooms.get(sync.id) !== sync) return;
    sync.joining = false;
    const error = err instanceof ChatError ? err : new ChatError('internal', String(err));
    // A dropped socket is retried on the next open; a refusal is final (transient ones were retried as requests).
    if (error.code === 'disconnected' || error.code === 'stopped') return;
    if (error.code === 'timeout') {
      // An unanswered join is asked again, backing off: at once would only add to whatever is slow.
      sync.joinTimer = setTimeout(() => {
        sync.joinTimer = undefined;
        this.sendJoin(sync);
      }, this.retryDelay(sync.joinTimeouts++));
      return;
    }
    this.forget(sync, error);
    this.emit('joinfailed', { room: sync.id, error: { code: error.code, message: error.message } });
  }

  private onJoined(event: EventOf<'joined'>): void {
    const id = event.room.id;
    // A room this client just created is followed from its first reply, whatever id the server gave it.
    const creating = event.reqId !== undefined && this.requests.get(event.reqId)?.action === 'createroom';
    const sync = this.rooms.get(id) ?? (creating ? this.ensureRoom(id) : undefined);
    if (!sync) return;
    sync.joined = true;
    sync.joining = false;
    sync.last = event;
    this.emit('joined', event);
    const { tracker } = sync;
    if (tracker.contiguous !== undefined && event.room.lastSeq - tracker.contiguous > this.opts.maxCatchUp) {
      tracker.reset();
      this.emit('reset', { room: id });
    }
    tracker.noteExists(event.room.lastSeq);
    if (tracker.contiguous === undefined) this.fetchNewest(sync);
    else this.catchUp(sync);
    this.pump(sync);
    for (const w of sync.waiters.splice(0)) w.resolve(event);
  }

  private onLiveMessage(msg: ChatMessage): void {
    const sync = this.rooms.get(msg.room);
    if (!sync) return;
    const { type: _, ...message } = msg as ChatMessage & { type?: string };
    if (sync.tracker.accept(message.seq)) this.emit('messages', { room: msg.room, messages: [message], source: 'live' });
    this.watchGap(sync);
  }

  private watchGap(sync: RoomSync): void {
    if (!sync.tracker.behind || sync.gapTimer) return;
    sync.gapTimer = setTimeout(() => {
      sync.gapTimer = undefined;
      this.catchUp(sync);
    }, this.opts.gapGraceMs);
  }

  /**
   * Takes a history page's messages and its skipped seqs (numbers that will
   * never hold a message) into the tracker; returns the messages not seen before.
   */
  private deliver(sync: RoomSync, page: EventOf<'history'>): ChatMessage[] {
    for (const seq of page.skipped ?? []) sync.tracker.accept(seq);
    return page.messages.filter((m) => sync.tracker.accept(m.seq));
  }

  private fetchNewest(sync: RoomSync): void {
    if (sync.fetching) return;
    sync.fetching = true;
    this.request({ action: 'history', room: sync.id, limit: this.opts.pageSize }, 'history', { reissued: true })
      .then((page) => {
        if (this.rooms.get(sync.id) !== sync) return;
        sync.fetching = false;
        // Complete from just below this page; a hole inside it (a send still being written) stays open until filled.
        const lowest = Math.min(page.messages[0]?.seq ?? Infinity, ...(page.skipped ?? []));
        sync.tracker.setBase(Number.isFinite(lowest) ? lowest - 1 : page.lastSeq);
        const fresh = this.deliver(sync, page);
        sync.tracker.noteExists(page.lastSeq);
        this.emit('messages', { room: sync.id, messages: fresh, source: 'initial', hasMore: page.hasMore });
        this.catchUp(sync);
      })
      .catch((err: unknown) => this.fetchFailed(sync, err));
  }

  /** Pages forward from the last contiguous seq until nothing is missing. */
  private catchUp(sync: RoomSync): void {
    const { tracker } = sync;
    if (!sync.joined || sync.fetching || tracker.contiguous === undefined || !tracker.behind) return;
    sync.fetching = true;
    const from = tracker.contiguous;
    this.request({ action: 'history', room: sync.id, after: from, limit: LIMITS.historyPageMax }, 'history', { reissued: true })
      .then((page) => {
        if (this.rooms.get(sync.id) !== sync) return;
        sync.fetching = false;
        const fresh = this.deliver(sync, page);
        tracker.noteExists(page.lastSeq);
        if (fresh.length) this.emit('messages', { room: sync.id, messages: fresh, source: 'catchup' });
        const progressed = (tracker.contiguous ?? 0) > from;
        if (progressed) sync.stalls = 0;
        if (page.hasMore || progressed) return this.catchUp(sync);
        // A hole history cannot fill yet: a send still being written, or one whose writer died, which
        // the server settles as skipped after GAP_SETTLE_MS (30 s). Look again, backing off, for about a minute.
        if (tracker.behind && ++sync.stalls <= MAX_STALLS) {
          sync.gapTimer ??= setTimeout(() => ((sync.gapTimer = undefined), this.catchUp(sync)), this.opts.holeRetryMs * 2 ** (sync.stalls - 1));
        }
      })
      .catch((err: unknown) => this.fetchFailed(sync, err));
  }

  private fetchFailed(sync: RoomSync, err: unknown): void {
    sync.fetching = false;
    if (err instanceof ChatError && (err.code === 'disconnected' || err.code === 'stopped')) return;
    const error = err instanceof ChatError ? err : new ChatError('internal', String(err));
    this.emit('error', { code: error.code, message: `Could not load messages for #${sync.id}: ${error.message}` });
  }

  // ------------------------------------------------------------ internals: outbox

  private clearOutgoing(m: Outgoing): void {
    clearTimeout(m.ackTimer);
    clearTimeout(m.retryTimer);
    m.ackTimer = m.retryTimer = undefined;
    m.inflight = false;
  }

  /** Sends the room's oldest unacked message, if nothing of the room's is in flight. */
  private pump(sync: RoomSync): void {
    const head = sync.outbox[0];
    if (!head || head.inflight || head.retryTimer || !sync.joined || !this.connection.isOpen) return;
    // Once a frame may have reached the server, every later copy says so (see `retry` in the protocol).
    if (!this.connection.send(head.sent ? retryFrame(head.frame) : head.frame)) return;
    head.inflight = true;
    head.sent = true;
    head.attempts++;
    head.ackTimer = setTimeout(() => {
      head.inflight = false;
      head.ackTimer = undefined;
      this.pump(sync);
    }, this.opts.ackTimeoutMs);
  }

  private onAck(ack: EventOf<'ack'>): void {
    const sync = this.rooms.get(ack.room);
    if (!sync) return;
    sync.tracker.noteExists(ack.seq);
    const index = sync.outbox.findIndex((m) => m.clientMsgId === ack.clientMsgId);
    if (index >= 0) {
      const [msg] = sync.outbox.splice(index, 1);
      this.clearOutgoing(msg!);
      this.emit('ack', { room: ack.room, clientMsgId: msg!.clientMsgId, seq: ack.seq, id: ack.id, ts: ack.ts });
    }
    this.pump(sync);
    this.watchGap(sync);
  }

  private onError(event: EventOf<'error'>): void {
    if (SESSION_ENDED.has(event.code)) return this.onSessionEnded(event);
    if (this.answer(event)) return;
    const outgoing = event.clientMsgId ? this.findOutgoing(event.clientMsgId) : undefined;
    if (outgoing) return this.onSendError(outgoing.sync, outgoing.msg, event);
    // Typing and ping are fire-and-forget; a refusal of either changes nothing the user sees.
    if (event.action === 'typing' || event.action === 'ping') return;
    this.emit('error', { code: event.code, message: event.message, retryAfterMs: event.retryAfterMs });
  }

  /**
   * token_expired or session_lost: the server refused this action unperformed
   * and closes the socket next. Reconnect at once (with a fresh token when it
   * expired); the refused action is kept and goes again on the new socket,
   * like everything else the reconnect restores, so the user sees no error.
   */
  private onSessionEnded(event: EventOf<'error'>): void {
    this.connection.renew({ refresh: event.code === 'token_expired' });
    const reqId = event.reqId;
    const req = reqId ? this.requests.get(reqId) : undefined;
    if (reqId && req) {
      clearTimeout(req.timer);
      req.timer = undefined;
      // Joins and catch-up are asked again after the reconnect anyway.
      if (req.reissued) return this.settle(reqId, req, new ChatError('disconnected', 'The session ended before the server answered.'));
      req.sent = false;
      const order = [...this.requests.keys()];
      this.queue = [...new Set([...this.queue, reqId])].sort((a, b) => order.indexOf(a) - order.indexOf(b));
      return;
    }
    // A refused send stays at the head of its outbox and goes again, same clientMsgId, after the re-join.
    const outgoing = event.clientMsgId ? this.findOutgoing(event.clientMsgId) : undefined;
    if (outgoing) this.clearOutgoing(outgoing.msg);
  }

  private findOutgoing(clientMsgId: string): { sync: RoomSync; msg: Outgoing } | undefined {
    for (const sync of this.rooms.values()) {
      const msg = sync.outbox.find((m) => m.clientMsgId === clientMsgId);
      if (msg) return { sync, msg };
    }
    return undefined;
  }

  private onSendError(sync: RoomSync, msg: Outgoing, event: EventOf<'error'>): void {
    this.clearOutgoing(msg);
    if (event.code === 'not_joined') {
      // The server forgot this connection's rooms (e.g. its record expired): join again, then resend.
      sync.joined = false;
      this.sendJoin(sync);
      return;
    }
    if (TRANSIENT.has(event.code) && msg.attempts < MAX_RETRIES) {
      msg.retryTimer = setTimeout(() => {
        msg.retryTimer = undefined;
        this.pump(sync);
      }, this.retryDelay(msg.attempts, event.retryAfterMs));
      return;
    }
    sync.outbox.splice(sync.outbox.indexOf(msg), 1);
    this.failed.set(msg.clientMsgId, msg);
    this.emit('sendfailed', { room: sync.id, clientMsgId: msg.clientMsgId, error: { code: event.code, message: event.message } });
    this.pump(sync);
  }
}
