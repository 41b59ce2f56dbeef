/**
 * Parley's realtime client: the chat protocol on top of a self-healing
 * ReconnectingSocket. A thin coordinator of four small state machines, each
 * in its own file: requests (requests.ts), per-room join and catch-up
 * (roomSync.ts), the bounded outbox of unacknowledged messages (outbox.ts)
 * and the typing throttle (typingThrottle.ts). Together they queue while
 * offline, send each room's messages one at a time with an idempotency key,
 * re-join and catch up after a reconnect, and fill seq gaps from history, so
 * the app sees every message once.
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
import { ReconnectingSocket, type ReconnectingSocketOptions } from './connection';
import { Emitter } from './emitter';
import { Outbox, type Outgoing } from './outbox';
import { RequestTracker, type RequestOptions } from './requests';
import { RoomSync, type RoomHost } from './roomSync';
import { TypingThrottle } from './typingThrottle';
import { ChatError, type ChatSocketEvents, type ConnectionState } from './types';

export { ChatError } from './types';
export type { ChatSocketEvents, ClientError, ConnectionState, MessageSource } from './types';

export interface ChatSocketOptions extends ReconnectingSocketOptions {
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
  /**
   * Messages written but not yet acknowledged, all rooms together. While
   * offline they pile up here; past this, sendMessage throws `queue_full`
   * (and a retry reports it) rather than hold an unbounded backlog.
   */
  maxOutbox?: number;
  /** Requests (room lists, history, creates…) that may wait for a socket at once; past it they reject with `queue_full`. */
  maxQueuedRequests?: number;
  newId?: () => string;
}

/**
 * A public room is named by its creator; a private room gets an unguessable
 * id from the server (read it from the `joined` reply) and needs a display name.
 */
export type CreateRoomRequest = { private?: false; room: string; name?: string } | { private: true; name: string; invite?: readonly string[] };

/**
 * The server ended this socket's session and closes it next: its token expired,
 * or it lost the socket's rooms. The action was not performed, so nothing has
 * failed; it goes again on the next connection, which starts at once.
 */
const SESSION_ENDED: ReadonlySet<ErrorCode> = new Set(['token_expired', 'session_lost']);
const encoder = new TextEncoder();

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

function checkFrame(frame: string): string {
  const bytes = encoder.encode(frame).byteLength;
  if (bytes > LIMITS.maxFrameBytes) {
    throw new ChatError('frame_too_large', `That is too much to send at once (${Math.ceil(bytes / 1024)} KiB; the limit is ${LIMITS.maxFrameBytes / 1024} KiB).`);
  }
  return frame;
}

const stopped = () => new ChatError('stopped', 'The chat connection was closed.');

export class ChatSocket extends Emitter<ChatSocketEvents> {
  readonly connection: ReconnectingSocket;
  private readonly rooms = new Map<string, RoomSync>();
  private readonly requests: RequestTracker;
  private readonly outbox: Outbox;
  private readonly typingThrottle: TypingThrottle;
  private readonly roomHost: RoomHost;
  private running = false;
  private readonly opts: Required<Omit<ChatSocketOptions, keyof ReconnectingSocketOptions>>;

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
      maxOutbox: 100,
      maxQueuedRequests: 50,
      newId,
      ...opts,
    };
    // Retries back off with the same jitter source as reconnects, so tests can fix it.
    const random = opts.random ?? Math.random;
    const retryDelay = (attempt: number, hintMs?: number) => hintMs ?? backoffDelay(attempt, DEFAULT_BACKOFF, random);
    this.connection = new ReconnectingSocket(opts);
    const send = (frame: string) => this.connection.send(frame);
    this.requests = new RequestTracker({ send, newId: this.opts.newId, timeoutMs: this.opts.requestTimeoutMs, retryDelay, maxQueued: this.opts.maxQueuedRequests });
    this.outbox = new Outbox({
      send,
      canSend: (room) => this.rooms.get(room)?.joined === true && this.connection.isOpen,
      onFailed: (room, clientMsgId, error) => this.emit('sendfailed', { room, clientMsgId, error }),
      ackTimeoutMs: this.opts.ackTimeoutMs,
      retryDelay,
      maxMessages: this.opts.maxOutbox,
    });
    this.typingThrottle = new TypingThrottle(this.opts.typingIntervalMs);
    this.roomHost = {
      request: (action, expect) => this.request(action, expect, { reissued: true }),
      isOpen: () => this.connection.isOpen,
      emit: (type, payload) => this.emit(type, payload),
      retryDelay: (attempt) => retryDelay(attempt),
      onJoined: (room) => this.outbox.pump(room),
      onRefused: (room, error) => {
        const sync = this.rooms.get(room);
        if (sync) this.forget(sync, error);
        this.emit('joinfailed', { room, error: { code: error.code, message: error.message } });
      },
    };
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
    this.requests.stop(stopped());
    for (const sync of this.rooms.values()) sync.disconnected();
    this.outbox.stop();
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
    return this.ensureRoom(room).waitJoined();
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
    if (!this.rooms.get(room)?.joined || !this.connection.isOpen) return;
    if (!this.typingThrottle.take(room)) return;
    this.connection.send(JSON.stringify({ action: 'typing', room } satisfies ClientActionInput));
  }

  // ------------------------------------------------------------ messages

  /**
   * Queues a message and returns its clientMsgId at once (for an optimistic
   * row). Throws ChatError for what can never be sent, and `queue_full` when
   * maxOutbox messages already wait, before anything is queued.
   */
  sendMessage(room: string, text: string): string {
    const problem = messageTextProblem(text);
    if (problem) throw new ChatError(problem.code, textProblemSentence(problem));
    if (!this.rooms.has(room)) throw new ChatError('not_joined', `Join #${room} to post in it.`);
    const clientMsgId = this.opts.newId();
    const frame = checkFrame(JSON.stringify({ action: 'sendmessage', room, message: text, clientMsgId } satisfies ClientActionInput));
    this.outbox.add(room, clientMsgId, frame);
    // Others stop showing us as typing when our message lands; the next keystroke should say so again.
    this.typingThrottle.reset(room);
    return clientMsgId;
  }

  /** Sends a failed message again, with its original clientMsgId so it cannot land twice. */
  retry(clientMsgId: string): void {
    this.outbox.retry(clientMsgId, (room) => this.rooms.has(room));
  }

  discard(clientMsgId: string): void {
    this.outbox.discard(clientMsgId);
  }

  // ------------------------------------------------------------ internals

  private request<T extends ServerEventType>(action: ClientActionInput, expect: T, opts: RequestOptions = {}): Promise<EventOf<T>> {
    if (!this.running) return Promise.reject(stopped());
    return this.requests.request(action, expect, (reqId) => checkFrame(JSON.stringify({ ...action, reqId })), opts);
  }

  private ensureRoom(id: string): RoomSync {
    let sync = this.rooms.get(id);
    if (!sync) {
      sync = new RoomSync(id, this.roomHost, this.opts);
      this.rooms.set(id, sync);
    }
    return sync;
  }

  /** Stops following a room: its queued messages fail with `error`, and so does anyone waiting for its join. */
  private forget(sync: RoomSync, error: ChatError): void {
    this.rooms.delete(sync.id);
    this.outbox.dropRoom(sync.id, { code: error.code, message: error.message });
    sync.close(error);
  }

  private onOpen(): void {
    for (const sync of this.rooms.values()) sync.join();
    // Every connection starts seated in the lobby; step out if this user left it.
    if (!this.rooms.has(DEFAULT_ROOM)) this.request({ action: 'leaveroom', room: DEFAULT_ROOM }, 'left', { reissued: true }).catch(() => undefined);
    this.requests.flush();
  }

  private onClose(): void {
    this.requests.disconnected();
    for (const sync of this.rooms.values()) sync.disconnected();
    // The unacked head goes again after the re-join; its clientMsgId makes that safe.
    this.outbox.disconnected();
  }

  private onFrame(event: ServerEvent): void {
    switch (event.type) {
      case 'message': {
        const { type: _, ...message } = event;
        this.rooms.get(event.room)?.onLiveMessage(message satisfies ChatMessage);
        return;
      }
      case 'ack':
        return this.onAck(event);
      case 'joined':
        this.onJoined(event);
        this.requests.answer(event);
        return;
      case 'left':
        if (!this.requests.answer(event)) this.emit('left', { room: event.room });
        return;
      case 'presence':
        if (this.rooms.get(event.room)?.joined) this.emit('presence', event);
        return;
      case 'typing':
        if (this.rooms.get(event.room)?.joined) this.emit('typing', event);
        return;
      case 'rooms':
        // Pages answer listRooms, which announces the whole list once it has it.
        this.requests.answer(event);
        return;
      case 'history':
      case 'pong':
        this.requests.answer(event);
        return;
      case 'error':
        return this.onError(event);
    }
  }

  private onJoined(event: EventOf<'joined'>): void {
    const id = event.room.id;
    // A room this client just created is followed from its first reply, whatever id the server gave it.
    const creating = event.reqId !== undefined && this.requests.actionOf(event.reqId) === 'createroom';
    const sync = this.rooms.get(id) ?? (creating ? this.ensureRoom(id) : undefined);
    sync?.onJoined(event);
  }

  private onAck(ack: EventOf<'ack'>): void {
    const sync = this.rooms.get(ack.room);
    if (!sync) return;
    const msg = this.outbox.acked(ack.room, ack.clientMsgId);
    if (msg) this.emit('ack', { room: ack.room, clientMsgId: msg.clientMsgId, seq: ack.seq, id: ack.id, ts: ack.ts });
    this.outbox.pump(ack.room);
    sync.onAck(ack.seq);
  }

  private onError(event: EventOf<'error'>): void {
    if (SESSION_ENDED.has(event.code)) return this.onSessionEnded(event);
    if (this.requests.answer(event)) return;
    const outgoing = event.clientMsgId ? this.outbox.find(event.clientMsgId) : undefined;
    if (outgoing) return this.onSendRefused(outgoing, event);
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
    if (this.requests.sessionEnded(event.reqId)) return;
    // A refused send stays at the head of its outbox and goes again, same clientMsgId, after the re-join.
    const outgoing = event.clientMsgId ? this.outbox.find(event.clientMsgId) : undefined;
    if (outgoing) this.outbox.hold(outgoing);
  }

  private onSendRefused(msg: Outgoing, event: EventOf<'error'>): void {
    // The server forgot this connection's rooms (e.g. its record expired): join again, then resend.
    if (this.outbox.refused(msg, event) === 'rejoin') this.rooms.get(msg.room)?.rejoin();
  }
}
