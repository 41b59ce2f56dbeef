/**
 * Parley's realtime client: the chat protocol on top of a self-healing
 * ReconnectingSocket. A thin coordinator of five small state machines, each
 * in its own file: requests (requests.ts), per-room seating and catch-up
 * (roomSync.ts), the bounded outbox of unacknowledged messages (outbox.ts),
 * read markers (readMarker.ts) and the typing throttle (typingThrottle.ts).
 * Together they queue while offline, send each room's messages one at a time
 * with an idempotency key, re-seat every room with one `sync` after a
 * reconnect and catch up, and fill seq gaps from history, so the app sees
 * every message (and every edit and delete) once.
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
  type MyRoom,
  type RoomChange,
  type RoomSummary,
  type ServerEvent,
  type ServerEventType,
} from '../../amplify/core/protocol';
import { backoffDelay, DEFAULT_BACKOFF, homeWaitDelay, isRetryable } from './backoff';
import { ReconnectingSocket, type ReconnectingSocketOptions } from './connection';
import { Emitter } from './emitter';
import { Outbox, type Outgoing } from './outbox';
import { ReadMarker } from './readMarker';
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
  /** Room-list and sync pages to follow; the server sends about 100 rooms a page. */
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

/** A `sync` that goes unanswered is asked again (backing off) this often before the client falls back to joining room by room. */
const MAX_SYNC_RETRIES = 5;

/** The change a `change` frame carries, without its envelope. */
function changeOf(e: EventOf<'change'>): RoomChange {
  const { room, seq, target, ts, senderId } = e;
  return e.kind === 'edit' ? { kind: 'edit', room, seq, target, text: e.text, ts, senderId } : { kind: 'delete', room, seq, target, ts, senderId };
}

/** One connection's `sync`: which rooms were followed when it began, and which the server has listed so far. */
interface SyncRun {
  candidates: ReadonlySet<string>;
  seen: Set<string>;
}

export class ChatSocket extends Emitter<ChatSocketEvents> {
  readonly connection: ReconnectingSocket;
  private readonly rooms = new Map<string, RoomSync>();
  private readonly reads = new Map<string, ReadMarker>();
  private readonly requests: RequestTracker;
  private readonly outbox: Outbox;
  private readonly typingThrottle: TypingThrottle;
  private readonly roomHost: RoomHost;
  private running = false;
  /** The sync of the open socket, until its last page; rooms wait for it rather than join one by one. */
  private syncRun: SyncRun | undefined;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  /** The room the app shows: it is joined for its members list, not only seated. */
  private focused: string | undefined;
  private readonly retryDelay: (attempt: number, hintMs?: number) => number;
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
    this.retryDelay = retryDelay;
    this.connection = new ReconnectingSocket(opts);
    const send = (frame: string) => this.connection.send(frame);
    this.requests = new RequestTracker({ send, newId: this.opts.newId, timeoutMs: this.opts.requestTimeoutMs, retryDelay, maxQueued: this.opts.maxQueuedRequests });
    this.outbox = new Outbox({
      send,
      canSend: (room) => this.rooms.get(room)?.joined === true && this.connection.isOpen,
      onFailed: (room, clientMsgId, error) => this.emit('sendfailed', { room, clientMsgId, error }),
      ackTimeoutMs: this.opts.ackTimeoutMs,
      retryDelay,
      homeWaitDelay: (attempt, hintMs) => homeWaitDelay(attempt, hintMs, random),
      maxMessages: this.opts.maxOutbox,
    });
    this.typingThrottle = new TypingThrottle(this.opts.typingIntervalMs);
    this.roomHost = {
      request: (action, expect) => this.request(action, expect, { reissued: true }),
      isOpen: () => this.connection.isOpen,
      emit: (type, payload) => this.emit(type, payload),
      retryDelay: (attempt) => retryDelay(attempt),
      onJoined: (room) => {
        this.outbox.pump(room);
        this.reads.get(room)?.pump();
      },
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

  /**
   * Starts connecting. `rooms` are the rooms followed last time, shown until
   * the server's `sync` says which are this user's: those it does not list
   * are dropped (`roomremoved`), and those it lists are followed too. The
   * lobby is followed unless left out, as the server seats everyone there.
   */
  start(rooms: readonly string[] = [DEFAULT_ROOM]): void {
    if (this.running) return;
    this.running = true;
    for (const r of rooms) this.ensureRoom(r);
    this.connection.start();
  }

  stop(): void {
    this.running = false;
    this.endSyncRun();
    this.connection.stop();
    this.requests.stop(stopped());
    for (const sync of this.rooms.values()) sync.stopped(stopped());
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

  /**
   * Follows a room: joins it now or on the next connection (which makes you a
   * member of a public room), and keeps it seated across reconnects.
   */
  join(room: string): Promise<EventOf<'joined'>> {
    const sync = this.ensureRoom(room);
    const joined = sync.waitJoined();
    if (!sync.joined) sync.requested = true;
    this.seat(sync);
    return joined;
  }

  async leave(room: string): Promise<void> {
    const sync = this.rooms.get(room);
    if (!sync) return;
    this.forget(sync, new ChatError('not_joined', `You left #${room}.`));
    if (!this.connection.isOpen) return;
    await this.request({ action: 'leaveroom', room }, 'left').catch(() => undefined);
  }

  /**
   * The room the app shows now (undefined: none). It is joined once per
   * socket for its members list, which `sync` does not carry.
   */
  focus(room: string | undefined): void {
    this.focused = room;
    const sync = room === undefined ? undefined : this.rooms.get(room);
    if (sync?.joined) sync.join();
  }

  /**
   * You have seen `room` up to `seq`. Coalesced: one `read` in flight per
   * room, the latest wish sent when it is answered, nothing at or below what
   * the server already holds; kept for the next socket while offline.
   */
  markRead(room: string, seq: number): void {
    if (!this.rooms.has(room)) return;
    this.marker(room).mark(seq);
  }

  /** The server's read marker for a followed room, as last heard. */
  lastRead(room: string): number | undefined {
    return this.rooms.has(room) ? (this.reads.get(room)?.acked ?? 0) : undefined;
  }

  /** Opens (creating if need be) the direct-message room with this chat name, and follows it. Rejects with `unknown_user`, for one. */
  openDm(name: string): Promise<EventOf<'joined'>> {
    // The room's id is fixed by the pair, so asking again after a dropped socket opens the same room.
    return this.request({ action: 'opendm', user: name }, 'joined', { resend: true });
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

  /**
   * Replaces the text of your message at `seq`; resolves with the change (its
   * own seq), which also arrives as a `changes` event. Checked like a send first.
   */
  editMessage(room: string, seq: number, text: string): Promise<RoomChange> {
    const problem = messageTextProblem(text);
    if (problem) return Promise.reject(new ChatError(problem.code, textProblemSentence(problem)));
    return this.change(room, { action: 'editmessage', room, seq, message: text });
  }

  /** Deletes your message at `seq`, leaving a tombstone; resolves with the change, as editMessage. */
  deleteMessage(room: string, seq: number): Promise<RoomChange> {
    return this.change(room, { action: 'deletemessage', room, seq });
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

  private marker(room: string): ReadMarker {
    let marker = this.reads.get(room);
    if (!marker) {
      marker = new ReadMarker({
        send: (seq) => this.request({ action: 'read', room, seq }, 'read', { reissued: true }).then((e) => e.seq),
        canSend: () => this.rooms.get(room)?.joined === true && this.connection.isOpen,
      });
      this.reads.set(room, marker);
    }
    return marker;
  }

  /** Stops following a room: its queued messages fail with `error`, and so does anyone waiting for its join. */
  private forget(sync: RoomSync, error: ChatError): void {
    this.rooms.delete(sync.id);
    this.reads.delete(sync.id);
    this.outbox.dropRoom(sync.id, { code: error.code, message: error.message });
    sync.close(error);
  }

  /** Joins a room now, unless this socket's sync is still to say whether it is seated already. */
  private seat(sync: RoomSync): void {
    if (this.syncRun && !sync.joined) return;
    sync.join();
  }

  /** Edits and deletes go once the room is seated: the server refuses them from a socket not in it. */
  private async change(room: string, action: ClientActionInput): Promise<RoomChange> {
    const sync = this.rooms.get(room);
    if (!sync) throw new ChatError('not_joined', `Join #${room} to change messages in it.`);
    if (!this.running) throw stopped();
    await sync.waitSeated();
    try {
      return changeOf(await this.request(action, 'change'));
    } catch (err) {
      // The server lost this socket's seat: take it again, so the next try works.
      if (err instanceof ChatError && err.code === 'not_joined') this.rooms.get(room)?.rejoin();
      throw err;
    }
  }

  private onOpen(): void {
    this.syncRun = { candidates: new Set(this.rooms.keys()), seen: new Set() };
    this.syncPage(this.syncRun, undefined, 0, 0);
    this.requests.flush();
  }

  /** Asks for one page of this user's rooms, which seats this socket in each; retries an unanswered one, backing off. */
  private syncPage(run: SyncRun, cursor: string | undefined, page: number, attempt: number): void {
    this.request({ action: 'sync', ...(cursor ? { cursor } : {}) }, 'synced', { reissued: true }).then(
      (res) => {
        if (this.syncRun !== run) return;
        this.onSynced(run, res.rooms);
        if (res.nextCursor && page + 1 < this.opts.maxRoomPages) return this.syncPage(run, res.nextCursor, page + 1, 0);
        this.endSync(run, res.nextCursor === undefined);
      },
      (err: unknown) => {
        if (this.syncRun !== run) return;
        const code = err instanceof ChatError ? err.code : 'internal';
        // A dropped socket syncs again on the next one.
        if (code === 'disconnected' || code === 'stopped') return;
        // Unanswered, or refused for now (a home region down): ask again; the rooms followed stay meanwhile.
        if ((code === 'timeout' || isRetryable(code)) && attempt < MAX_SYNC_RETRIES) {
          this.syncTimer = setTimeout(() => {
            this.syncTimer = undefined;
            if (this.syncRun === run) this.syncPage(run, cursor, page, attempt + 1);
          }, this.retryDelay(attempt));
          return;
        }
        // Refused for good: join room by room as before, and drop nothing on a list never seen whole.
        this.endSync(run, false);
      },
    );
  }

  /** One page: its rooms are seated on this socket now, the ones not followed yet too (they are this user's). */
  private onSynced(run: SyncRun, rooms: readonly MyRoom[]): void {
    const seated: MyRoom[] = [];
    for (const room of rooms) {
      run.seen.add(room.id);
      let sync = this.rooms.get(room.id);
      if (!sync && room.id === DEFAULT_ROOM) {
        // The lobby seats everyone; this client left it, so step out again.
        this.leaveLobby();
        continue;
      }
      sync ??= this.ensureRoom(room.id);
      this.marker(room.id).acknowledged(room.lastRead);
      sync.onSynced(room);
      seated.push(room);
    }
    this.emit('synced', { rooms: seated });
    this.focus(this.focused);
  }

  /**
   * The sync is over. After a whole list, a room followed when it began that
   * the server did not list is no longer this user's and is dropped; rooms
   * asked for since are joined.
   */
  private endSync(run: SyncRun, complete: boolean): void {
    this.endSyncRun();
    for (const sync of [...this.rooms.values()]) {
      if (sync.joined || run.seen.has(sync.id)) continue;
      // Never the lobby: it is everyone's and always listed where it exists, so a list without it
      // comes from a region whose replica has not got it yet (a new deployment), and it is joined instead.
      if (complete && run.candidates.has(sync.id) && !sync.requested && sync.id !== DEFAULT_ROOM) {
        this.forget(sync, new ChatError('room_not_found', `You are no longer in #${sync.id}.`));
        this.emit('roomremoved', { room: sync.id });
      } else sync.join();
    }
    if (!run.seen.has(DEFAULT_ROOM) && !this.rooms.has(DEFAULT_ROOM)) this.leaveLobby();
    this.focus(this.focused);
  }

  private endSyncRun(): void {
    this.syncRun = undefined;
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
  }

  /** Every connection starts seated in the lobby (and `sync` seats it again); step out, as this client left it. */
  private leaveLobby(): void {
    this.request({ action: 'leaveroom', room: DEFAULT_ROOM }, 'left', { reissued: true }).catch(() => undefined);
  }

  private onClose(): void {
    this.endSyncRun();
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
      case 'synced':
      case 'pong':
        this.requests.answer(event);
        return;
      case 'change':
        // Our own edit's reply is also the change itself: seen like any other.
        this.requests.answer(event);
        this.rooms.get(event.room)?.onLiveChange(changeOf(event));
        return;
      case 'read':
        this.requests.answer(event);
        return this.onRead(event);
      case 'roomadded':
        return this.onRoomAdded(event);
      case 'roomremoved':
        return this.onRoomRemoved(event.room);
      case 'roomcreated':
        this.emit('roomcreated', { room: event.room });
        return;
      case 'error':
        return this.onError(event);
    }
  }

  private onJoined(event: EventOf<'joined'>): void {
    const id = event.room.id;
    // A room this client just created or opened is followed from its first reply, whatever id the server gave it.
    const action = event.reqId === undefined ? undefined : this.requests.actionOf(event.reqId);
    const sync = this.rooms.get(id) ?? (action === 'createroom' || action === 'opendm' ? this.ensureRoom(id) : undefined);
    if (!sync) return;
    this.marker(id).acknowledged(event.lastRead);
    sync.onJoined(event);
  }

  private onRead(event: EventOf<'read'>): void {
    if (!this.rooms.has(event.room)) return;
    this.marker(event.room).acknowledged(event.seq);
    this.emit('read', { room: event.room, seq: event.seq, unread: event.unread, lastSeq: event.lastSeq });
  }

  /** A room became this user's elsewhere: follow it and take a seat here too. */
  private onRoomAdded(event: EventOf<'roomadded'>): void {
    const id = event.room.id;
    const sync = this.ensureRoom(id);
    this.marker(id).acknowledged(event.room.lastRead);
    if (!sync.joined) {
      sync.requested = true;
      this.seat(sync);
    }
    this.emit('roomadded', { room: event.room, ...(event.by ? { by: event.by } : {}) });
  }

  /** Left on another socket: the server has unseated this one too. */
  private onRoomRemoved(room: string): void {
    const sync = this.rooms.get(room);
    if (!sync) return;
    this.forget(sync, new ChatError('not_joined', `You left #${room}.`));
    this.emit('roomremoved', { room });
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
    const refusal = this.outbox.refused(msg, event);
    // The server forgot this connection's rooms (e.g. its record expired): join again, then resend.
    if (refusal === 'rejoin') this.rooms.get(msg.room)?.rejoin();
    // The room's home region is down: the message waits, and the app says so rather than "not sent".
    if (refusal === 'waiting') {
      this.emit('sendwaiting', { room: msg.room, clientMsgId: msg.clientMsgId, error: { code: event.code, message: event.message, retryAfterMs: event.retryAfterMs } });
    }
  }
}
