/**
 * The chat's state, framework-free: it listens to the ChatSocket, keeps one
 * immutable snapshot, and React reads it through useSyncExternalStore.
 */
import { DEFAULT_ROOM, DEFAULT_ROOM_NAME, LIMITS, type ChatMessage, type MyRoom, type RoomChange, type RoomSummary, type UserRef } from '../../amplify/core/protocol';
import { applyChanges, mergeMessages } from '../realtime/merge';
import { ChatError, type ChatSocket, type ClientError, type ConnectionState, type CreateRoomRequest } from '../realtime/socket';

export const TYPING_TTL_MS = 4_000;
const LOBBY_LABEL = { name: DEFAULT_ROOM_NAME, private: false } as const;

export interface PendingMessage {
  clientMsgId: string;
  text: string;
  /** waiting: the room's home region is down; it goes by itself once that is back (nothing for the user to do). */
  status: 'sending' | 'waiting' | 'failed';
  /** Why it failed, or (waiting) why it waits. */
  error?: ClientError;
  /** Local clock, for display only. */
  ts: number;
  /** Seq of a live echo that is most likely this message, shown in its place until the ack lands. */
  echo?: number;
}

export interface TypingUser {
  user: UserRef;
  until: number;
}

/** What a room is called and whether it is private: what the sidebar and header need to draw it. */
export type RoomLabel = Pick<RoomSummary, 'name' | 'private'>;

export interface RoomView {
  id: string;
  summary?: RoomSummary;
  /**
   * Remembered from the last session, so a followed room is drawn by its name
   * (a private room's id is a random string) until the server's summary arrives.
   */
  label?: RoomLabel;
  /** Followed: joined now and re-joined after every reconnect. */
  followed: boolean;
  /** The first page has arrived. */
  loaded: boolean;
  messages: readonly ChatMessage[];
  pending: readonly PendingMessage[];
  members: readonly UserRef[];
  typing: readonly TypingUser[];
  /**
   * Messages from others you have not seen: the server's count (from sync,
   * join and read, at most LIMITS.unreadMax), plus those that arrived live
   * while you were not looking. 0 for the room you are looking at.
   */
  unread: number;
  /** The server's read marker: seqs up to here were read (on any of your devices). */
  lastRead: number;
  /**
   * `lastRead` as it was when the room was opened with unread messages: draw
   * "New messages" above the first message from others with a seq above it.
   * Undefined when it was opened with nothing unread.
   */
  dividerAt?: number;
  /** A direct-message room: the other person. */
  dm?: UserRef;
  hasOlder: boolean;
  loadingOlder: boolean;
  /** Why you cannot post here, when you cannot. */
  blocked?: string;
  /** The latest server refusal for this room, shown inline above the composer. */
  error?: string;
}

export interface ChatState {
  me: UserRef;
  connection: ConnectionState;
  current: string;
  rooms: Readonly<Record<string, RoomView>>;
  /** Rooms this user may join: public ones and private ones they belong to. */
  directory: readonly RoomSummary[];
  /** The server has answered for the directory at least once; until then it is not "empty", just unknown. */
  directoryLoaded: boolean;
  /** Latest announcement for screen readers. */
  announcement: string;
  /** A problem not tied to a room. */
  notice?: string;
}

export type ChatSocketLike = Pick<
  ChatSocket,
  | 'on'
  | 'start'
  | 'stop'
  | 'join'
  | 'leave'
  | 'focus'
  | 'createRoom'
  | 'openDm'
  | 'listRooms'
  | 'loadOlder'
  | 'typing'
  | 'sendMessage'
  | 'editMessage'
  | 'deleteMessage'
  | 'markRead'
  | 'retry'
  | 'discard'
  | 'state'
  | 'connection'
>;

/** The other person in a DM room (the one who is not `me`). */
const dmPeer = (summary: RoomSummary | undefined, me: UserRef): UserRef | undefined =>
  summary?.dm ? (summary.dm.find((u) => u.id !== me.id) ?? summary.dm[0]) : undefined;

const emptyRoom = (id: string, me: UserRef, summary?: RoomSummary): RoomView => ({
  id,
  summary,
  dm: dmPeer(summary, me),
  followed: false,
  loaded: false,
  messages: [],
  pending: [],
  members: [],
  typing: [],
  unread: 0,
  lastRead: 0,
  hasOlder: false,
  loadingOlder: false,
});

/** The tab is shown. Outside a browser (tests, no DOM) nothing hides it. */
const pageVisible = (): boolean => typeof document === 'undefined' || document.visibilityState === 'visible';

const preview = (text: string) => (text.length > 140 ? `${text.slice(0, 140)}…` : text);

export class ChatStore {
  private state: ChatState;
  private listeners = new Set<() => void>();
  private unsubscribe: (() => void)[] = [];
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly storageKey: string;
  /**
   * Per room, the seq up to which the server's unread count already covers
   * messages: those up to it are not counted again when catch-up delivers them.
   */
  private readonly counted = new Map<string, number>();

  private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | undefined;
  private readonly typingTtlMs: number;

  constructor(
    private readonly socket: ChatSocketLike,
    me: UserRef,
    opts: { storage?: Pick<Storage, 'getItem' | 'setItem'>; typingTtlMs?: number } = {},
  ) {
    this.storage = 'storage' in opts ? opts.storage : globalThis.localStorage;
    this.typingTtlMs = opts.typingTtlMs ?? TYPING_TTL_MS;
    this.storageKey = `parley:${me.id}`;
    const saved = this.load();
    const followed = saved.rooms.length ? saved.rooms : [DEFAULT_ROOM];
    const rooms: Record<string, RoomView> = {};
    for (const id of followed) rooms[id] = { ...emptyRoom(id, me), followed: true, label: saved.labels[id] ?? (id === DEFAULT_ROOM ? LOBBY_LABEL : undefined) };
    const current = saved.current && rooms[saved.current] ? saved.current : followed[0]!;
    this.state = { me, connection: socket.state, current, rooms, directory: [], directoryLoaded: false, announcement: '' };
  }

  // ------------------------------------------------------------ external store contract

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = (): ChatState => this.state;

  private set(next: Partial<ChatState>): void {
    this.state = { ...this.state, ...next };
    for (const fn of this.listeners) fn();
  }

  private updateRoom(id: string, fn: (room: RoomView) => RoomView | Partial<RoomView>): void {
    const prev = this.state.rooms[id] ?? emptyRoom(id, this.state.me, this.state.directory.find((r) => r.id === id));
    const patch = fn(prev);
    const next = { ...prev, ...patch };
    this.set({ rooms: { ...this.state.rooms, [id]: next } });
  }

  // ------------------------------------------------------------ lifecycle

  start(): void {
    const s = this.socket;
    this.unsubscribe.push(
      s.on('state', (connection) => {
        this.set({ connection });
        if (connection === 'online') void this.refreshRooms();
      }),
      s.on('joined', (e) => {
        this.updateRoom(e.room.id, () => ({ ...this.summaryPatch(e.room), followed: true, members: e.members, blocked: undefined }));
        this.serverCount(e.room.id, e.room.lastSeq, e.lastRead, e.unread);
        this.upsertDirectory(e.room);
        this.save();
      }),
      s.on('synced', ({ rooms }) => {
        for (const room of rooms) this.onMyRoom(room);
        this.save();
      }),
      s.on('roomadded', ({ room, by }) => {
        this.onMyRoom(room);
        this.save();
        if (by && by.id !== this.state.me.id) this.set({ announcement: `${by.name} added you to ${roomTitle(this.state.rooms[room.id], room.id)}.` });
      }),
      s.on('roomremoved', ({ room }) => this.onRoomRemoved(room)),
      s.on('roomcreated', ({ room }) => this.upsertDirectory(room)),
      s.on('read', (e) => this.onRead(e.room, e.seq, e.unread, e.lastSeq)),
      s.on('changes', (e) => this.onChanges(e.room, e.changes)),
      s.on('joinfailed', ({ room, error }) => {
        this.updateRoom(room, () => ({ followed: false, blocked: error.message }));
        this.save();
      }),
      s.on('left', ({ room }) => this.updateRoom(room, () => ({ followed: false, members: [], typing: [] }))),
      s.on('presence', (e) => this.updateRoom(e.room, () => ({ members: e.members }))),
      s.on('typing', (e) => this.onTyping(e.room, e.user)),
      s.on('messages', (e) => this.onMessages(e.room, e.messages, e.source, e.hasMore)),
      s.on('reset', ({ room }) => this.updateRoom(room, () => ({ messages: [], loaded: false }))),
      s.on('ack', (e) => this.onAck(e)),
      s.on('sendfailed', ({ room, clientMsgId, error }) =>
        this.updateRoom(room, (r) => ({
          pending: r.pending.map((p) => (p.clientMsgId === clientMsgId ? { ...p, status: 'failed' as const, error, echo: undefined } : p)),
          error: error.message,
        })),
      ),
      s.on('sendwaiting', ({ room, error }) =>
        // Every unsent message of the room waits behind it (a room sends one at a time), so all of them say so.
        this.updateRoom(room, (r) => ({ pending: r.pending.map((p) => (p.status === 'sending' ? { ...p, status: 'waiting' as const, error } : p)) })),
      ),
      s.on('rooms', (rooms) => this.set({ directory: rooms, directoryLoaded: true })),
      s.on('error', (error) => this.set({ notice: error.message })),
    );
    // Coming back to the tab (or window) is opening the room again: mark it read, place the divider.
    if (typeof document !== 'undefined') {
      const back = () => {
        if (pageVisible()) this.look('open');
      };
      document.addEventListener('visibilitychange', back);
      globalThis.addEventListener?.('focus', back);
      this.unsubscribe.push(() => {
        document.removeEventListener('visibilitychange', back);
        globalThis.removeEventListener?.('focus', back);
      });
    }
    // Followed rooms from the last session are only a first paint: the server's sync says which are yours.
    s.start(Object.values(this.state.rooms).filter((r) => r.followed).map((r) => r.id));
    s.focus(this.state.current);
    this.look('open');
  }

  dispose(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    clearTimeout(this.typingTimer);
    this.socket.stop();
  }

  // ------------------------------------------------------------ actions

  /**
   * Opens a room, joining it first if it is not followed yet. Opening it with
   * unread messages places the "New messages" divider at its read marker.
   */
  select(id: string): void {
    const room = this.state.rooms[id];
    // Opening the room already open (e.g. coming back to the tab) is not a new visit: the divider stays.
    const again = id === this.state.current;
    this.set({ current: id });
    if (!again) this.updateRoom(id, () => ({ dividerAt: undefined }));
    this.save();
    this.socket.focus(id);
    if (!room?.followed) void this.join(id);
    this.look('open');
  }

  async join(id: string): Promise<void> {
    this.updateRoom(id, () => ({ followed: true, blocked: undefined, error: undefined }));
    this.save();
    try {
      await this.socket.join(id);
    } catch (err) {
      this.updateRoom(id, () => ({ followed: false, blocked: errorText(err) }));
      this.save();
    }
  }

  /** Leaves a room and, if it was open, goes back to the lobby, as Slack does: a room you left is not one you are in. */
  async leave(id: string): Promise<void> {
    const title = roomTitle(this.state.rooms[id], id);
    this.updateRoom(id, () => ({ followed: false, members: [], typing: [], unread: 0, blocked: `You left ${title}. Join it again to post.` }));
    if (this.state.current === id && id !== DEFAULT_ROOM) this.select(DEFAULT_ROOM);
    this.set({ announcement: `You left ${title}.` });
    this.save();
    await this.socket.leave(id);
  }

  /**
   * Creates a room and opens it, by the id in the server's `joined` reply (a
   * private room's id is made by the server); resolves to that id. Throws
   * ChatError (e.g. room_exists, unknown_user) for the form to show.
   */
  async createRoom(input: CreateRoomRequest): Promise<string> {
    // A public room's id is known up front, so it shows at once; a private room appears with the reply.
    const optimistic = input.private ? undefined : input.room;
    if (optimistic !== undefined) this.updateRoom(optimistic, () => ({ followed: true }));
    let id: string;
    try {
      id = (await this.socket.createRoom(input)).room.id;
    } catch (err) {
      if (optimistic !== undefined) {
        // Undo the optimistic entry unless the room was already known.
        const { [optimistic]: _, ...rest } = this.state.rooms;
        if (!this.state.directory.some((r) => r.id === optimistic)) this.set({ rooms: rest });
        else this.updateRoom(optimistic, () => ({ followed: false }));
      }
      throw err;
    }
    this.select(id);
    return id;
  }

  /**
   * Opens the direct-message room with this chat name (creating it if need
   * be) and selects it; resolves to its id. Throws ChatError (e.g.
   * unknown_user, bad_request for yourself) for the form to show.
   */
  async openDm(name: string): Promise<string> {
    const { room } = await this.socket.openDm(name);
    this.select(room.id);
    return room.id;
  }

  /**
   * Replaces the text of your message. The new text shows once the server
   * confirms it (its reply arrives as a `changes` event, before this
   * resolves). Throws ChatError: the text rules as for a send, forbidden,
   * message_not_found…
   */
  async editMessage(room: string, seq: number, text: string): Promise<void> {
    await this.socket.editMessage(room, seq, text);
  }

  /** Deletes your message, leaving a tombstone, once the server confirms it (as editMessage). Throws ChatError. */
  async deleteMessage(room: string, seq: number): Promise<void> {
    await this.socket.deleteMessage(room, seq);
  }

  async refreshRooms(): Promise<void> {
    try {
      this.set({ directory: await this.socket.listRooms(), directoryLoaded: true });
    } catch {
      // Offline or busy: the next connection refreshes it.
    }
  }

  /** Sends to the current room. Throws ChatError for what can never be sent, so the composer keeps the text. */
  send(text: string): void {
    const room = this.state.current;
    const clientMsgId = this.socket.sendMessage(room, text);
    // Behind a message that waits for the room's home region, this one waits too.
    const waiting = this.state.rooms[room]?.pending.find((p) => p.status === 'waiting');
    const pending: PendingMessage = waiting
      ? { clientMsgId, text, status: 'waiting', error: waiting.error, ts: Date.now() }
      : { clientMsgId, text, status: 'sending', ts: Date.now() };
    this.updateRoom(room, (r) => ({ pending: [...r.pending, pending], error: undefined }));
  }

  retry(room: string, clientMsgId: string): void {
    this.updateRoom(room, (r) => {
      const p = r.pending.find((x) => x.clientMsgId === clientMsgId);
      if (!p) return {};
      // Retried messages go to the back of the queue, as they do in the socket.
      return { pending: [...r.pending.filter((x) => x !== p), { ...p, status: 'sending' as const, error: undefined }], error: undefined };
    });
    this.socket.retry(clientMsgId);
  }

  discard(room: string, clientMsgId: string): void {
    this.socket.discard(clientMsgId);
    this.updateRoom(room, (r) => ({ pending: r.pending.filter((p) => p.clientMsgId !== clientMsgId) }));
  }

  async loadOlder(id: string): Promise<void> {
    const room = this.state.rooms[id];
    const oldest = room?.messages[0]?.seq;
    if (!room || room.loadingOlder || !room.hasOlder || oldest === undefined) return;
    this.updateRoom(id, () => ({ loadingOlder: true }));
    try {
      await this.socket.loadOlder(id, oldest);
    } catch (err) {
      this.updateRoom(id, () => ({ error: `Could not load older messages: ${errorText(err)}` }));
    } finally {
      this.updateRoom(id, () => ({ loadingOlder: false }));
    }
  }

  typing(): void {
    this.socket.typing(this.state.current);
  }

  reconnect(): void {
    this.socket.connection.reconnectNow();
  }

  dismissNotice(): void {
    this.set({ notice: undefined });
  }

  clearRoomError(id: string): void {
    this.updateRoom(id, () => ({ error: undefined }));
  }

  // ------------------------------------------------------------ event handling

  private onMessages(id: string, incoming: ChatMessage[], source: 'live' | 'initial' | 'catchup' | 'older', hasMore?: boolean): void {
    const { me, current } = this.state;
    const looking = this.looking(id);
    const counted = this.counted.get(id) ?? 0;
    if (source !== 'older') this.counted.set(id, Math.max(counted, ...incoming.map((m) => m.seq)));
    this.updateRoom(id, (r) => {
      const messages = mergeMessages(r.messages, incoming);
      const patch: Partial<RoomView> = { messages };
      if (source === 'initial') Object.assign(patch, { loaded: true, hasOlder: hasMore ?? false });
      if (source === 'older') patch.hasOlder = hasMore ?? false;
      const fromOthers = source === 'live' || source === 'catchup' ? incoming.filter((m) => m.senderId !== me.id) : [];
      if (fromOthers.length) {
        // Only what the server's count did not include yet (catch-up brings back what it counted).
        const uncounted = fromOthers.filter((m) => m.seq > Math.max(counted, r.lastRead) && !m.deleted).length;
        if (!looking && uncounted) patch.unread = Math.min(LIMITS.unreadMax, r.unread + uncounted);
        const senders = new Set(fromOthers.map((m) => m.senderId));
        patch.typing = r.typing.filter((t) => !senders.has(t.user.id));
      }
      // A live echo of our own in-flight message: show it once, not as both pending and sent.
      const own = source === 'live' ? incoming.find((m) => m.senderId === me.id) : undefined;
      if (own) {
        const head = r.pending.find((p) => p.status === 'sending' && p.echo === undefined);
        if (head?.text === own.text) patch.pending = r.pending.map((p) => (p === head ? { ...p, echo: own.seq } : p));
      }
      return patch;
    });
    if (id === current && source === 'live') {
      const last = incoming.filter((m) => m.senderId !== me.id).at(-1);
      if (last) this.set({ announcement: `${last.senderName}: ${preview(last.text)}` });
    }
    if (looking) this.look('update');
    this.syncTitle();
  }

  /** Edits and deletes: each replaces the text of the message it targets, if that is loaded. */
  private onChanges(id: string, changes: readonly RoomChange[]): void {
    const room = this.state.rooms[id];
    if (!room) return;
    const messages = applyChanges(room.messages, changes);
    if (messages !== room.messages) this.updateRoom(id, () => ({ messages }));
  }

  /** A room of this user's with its read position (from sync or roomadded): followed. */
  private onMyRoom(room: MyRoom): void {
    this.updateRoom(room.id, () => ({ ...this.summaryPatch(room), followed: true, blocked: undefined }));
    this.serverCount(room.id, room.lastSeq, room.lastRead, room.unread);
    this.upsertDirectory(stripRead(room));
  }

  /** The room is no longer yours (left on another device, or removed): as leave, and out of it if it was open. */
  private onRoomRemoved(id: string): void {
    const title = roomTitle(this.state.rooms[id], id);
    this.updateRoom(id, () => ({ followed: false, members: [], typing: [], unread: 0, blocked: `You are no longer in ${title}. Join it again to post.` }));
    if (this.state.current === id && id !== DEFAULT_ROOM) {
      this.select(DEFAULT_ROOM);
      this.set({ notice: `You are no longer in ${title}.`, announcement: `You are no longer in ${title}.` });
    }
    this.save();
    this.syncTitle();
  }

  /** The read marker moved (here or on another device). */
  private onRead(id: string, seq: number, unread: number, lastSeq: number): void {
    const room = this.state.rooms[id];
    if (!room) return;
    this.counted.set(id, Math.max(this.counted.get(id) ?? 0, lastSeq));
    this.updateRoom(id, (r) => {
      const lastRead = Math.max(r.lastRead, seq);
      return { lastRead, unread: this.looking(id) ? 0 : this.withLater(r, unread, lastSeq, lastRead) };
    });
    if (this.looking(id)) this.look('update');
    this.syncTitle();
  }

  /**
   * The server's count, which stops at its `lastSeq`, plus the messages from
   * others past it that arrived live before the count did (a send racing the
   * join or the read); they were counted once already and the count replaces that.
   */
  private withLater(r: RoomView, unread: number, lastSeq: number, lastRead: number): number {
    const me = this.state.me.id;
    const later = r.messages.filter((m) => m.seq > Math.max(lastSeq, lastRead) && m.senderId !== me && !m.deleted).length;
    return Math.min(LIMITS.unreadMax, unread + later);
  }

  /** The server's unread count and read marker for a room, as of its `lastSeq`. */
  private serverCount(id: string, lastSeq: number, lastRead: number, unread: number): void {
    this.counted.set(id, Math.max(this.counted.get(id) ?? 0, lastSeq));
    const looking = this.looking(id);
    this.updateRoom(id, (r) => ({
      lastRead: Math.max(r.lastRead, lastRead),
      unread: looking ? 0 : this.withLater(r, unread, lastSeq, Math.max(r.lastRead, lastRead)),
      // Opened before the count arrived (a reload): the divider goes where the server says reading stopped.
      ...(looking && unread > 0 && r.dividerAt === undefined ? { dividerAt: Math.max(r.lastRead, lastRead) } : {}),
    }));
    if (looking) this.look('update');
    this.syncTitle();
  }

  /** You are looking at this room: it is open, followed, and the tab is visible. */
  private looking(id: string): boolean {
    return id === this.state.current && this.state.rooms[id]?.followed === true && pageVisible();
  }

  /**
   * The current room is being looked at: nothing in it is unread, and the
   * server hears so (read up to the newest message shown). `open` (select,
   * back to the tab) with unread messages first places the divider.
   */
  private look(reason: 'open' | 'update'): void {
    const id = this.state.current;
    const room = this.state.rooms[id];
    if (!room || !this.looking(id)) return;
    if (room.unread > 0) {
      // Back after being away, the divider moves to where reading stopped; otherwise an earlier one stays.
      this.updateRoom(id, (r) => ({ unread: 0, dividerAt: reason === 'open' || r.dividerAt === undefined ? r.lastRead : r.dividerAt }));
      this.syncTitle();
    }
    const newest = room.messages.at(-1)?.seq;
    if (newest !== undefined && newest > room.lastRead) this.socket.markRead(id, newest);
  }

  private summaryPatch(summary: RoomSummary): Pick<RoomView, 'summary' | 'dm'> {
    return { summary: stripRead(summary), dm: dmPeer(summary, this.state.me) };
  }

  private onAck(e: { room: string; clientMsgId: string; seq: number; id: string; ts: number }): void {
    const { me } = this.state;
    this.updateRoom(e.room, (r) => {
      const p = r.pending.find((x) => x.clientMsgId === e.clientMsgId);
      if (!p) return {};
      const message: ChatMessage = { room: e.room, seq: e.seq, id: e.id, senderId: me.id, senderName: me.name, text: p.text, ts: e.ts };
      // An ack means the room's home answers again: whatever waited for it is simply sending now.
      const rest = r.pending.filter((x) => x !== p).map((x) => (x.status === 'waiting' ? { ...x, status: 'sending' as const, error: undefined } : x));
      return { pending: rest, messages: mergeMessages(r.messages, [message]) };
    });
  }

  private onTyping(id: string, user: UserRef): void {
    if (user.id === this.state.me.id) return;
    const until = Date.now() + this.typingTtlMs;
    this.updateRoom(id, (r) => ({ typing: [...r.typing.filter((t) => t.user.id !== user.id), { user, until }] }));
    this.scheduleTypingExpiry();
  }

  private scheduleTypingExpiry(): void {
    clearTimeout(this.typingTimer);
    const all = Object.values(this.state.rooms).flatMap((r) => r.typing);
    if (!all.length) return;
    const next = Math.min(...all.map((t) => t.until));
    this.typingTimer = setTimeout(() => {
      const now = Date.now();
      for (const r of Object.values(this.state.rooms)) {
        if (r.typing.some((t) => t.until <= now)) this.updateRoom(r.id, (x) => ({ typing: x.typing.filter((t) => t.until > now) }));
      }
      this.scheduleTypingExpiry();
    }, Math.max(0, next - Date.now()));
  }

  private upsertDirectory(room: RoomSummary): void {
    const dir = this.state.directory;
    const i = dir.findIndex((r) => r.id === room.id);
    this.set({ directory: i < 0 ? [...dir, room] : dir.map((r) => (r.id === room.id ? room : r)) });
  }

  private syncTitle(): void {
    if (typeof document === 'undefined') return;
    const unread = Object.values(this.state.rooms).reduce((n, r) => n + r.unread, 0);
    document.title = unread ? `(${unread}) Parley` : 'Parley';
  }

  // ------------------------------------------------------------ persistence

  private load(): { rooms: string[]; current?: string; labels: Record<string, RoomLabel> } {
    try {
      const raw = JSON.parse(this.storage?.getItem(this.storageKey) ?? 'null') as { rooms?: unknown; current?: unknown; labels?: unknown } | null;
      const rooms = Array.isArray(raw?.rooms) ? raw.rooms.filter((r): r is string => typeof r === 'string') : [];
      const labels: Record<string, RoomLabel> = {};
      if (typeof raw?.labels === 'object' && raw.labels !== null) {
        for (const [id, l] of Object.entries(raw.labels as Record<string, { name?: unknown; private?: unknown } | null>)) {
          if (typeof l?.name === 'string' && typeof l.private === 'boolean') labels[id] = { name: l.name, private: l.private };
        }
      }
      return { rooms, current: typeof raw?.current === 'string' ? raw.current : undefined, labels };
    } catch {
      return { rooms: [], labels: {} };
    }
  }

  private save(): void {
    const followed = Object.values(this.state.rooms).filter((r) => r.followed);
    const rooms = followed.map((r) => r.id);
    const labels: Record<string, RoomLabel> = {};
    for (const r of followed) {
      const label = roomLabelOf(r);
      if (label) labels[r.id] = { name: label.name, private: label.private };
    }
    try {
      this.storage?.setItem(this.storageKey, JSON.stringify({ rooms, current: this.state.current, labels }));
    } catch {
      // Private browsing or a full quota: following rooms just won't survive a reload.
    }
  }
}

/** A room's summary without the reader's fields a MyRoom adds, as the directory and headers hold it. */
function stripRead(room: RoomSummary): RoomSummary {
  const { id, name, private: isPrivate, createdBy, lastSeq, dm } = room;
  return { id, name, private: isPrivate, createdBy, lastSeq, ...(dm ? { dm } : {}) };
}

function errorText(err: unknown): string {
  if (err instanceof ChatError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * A room's name and privacy: the server's summary, else what the last
 * session remembered. A DM is named by the other person.
 */
export const roomLabelOf = (room: RoomView | undefined): RoomLabel | undefined =>
  room?.dm ? { name: room.dm.name, private: true } : (room?.summary ?? room?.label);

/** How a room is named in text: "#name" for public rooms, the bare name for private ones and DMs (the other person's name). */
export const roomTitle = (room: RoomView | undefined, id: string): string => {
  const label = roomLabelOf(room);
  return (label?.private ? '' : '#') + (label?.name ?? id);
};

/** Unsent messages to draw: one whose live echo already shows is not drawn twice. */
export function visiblePending(room: RoomView): readonly PendingMessage[] {
  return room.pending.some((p) => p.echo !== undefined) ? room.pending.filter((p) => p.status === 'failed' || p.echo === undefined) : room.pending;
}
