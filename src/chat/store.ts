/**
 * The chat's state, framework-free: it listens to the ChatSocket, keeps one
 * immutable snapshot, and React reads it through useSyncExternalStore.
 */
import { DEFAULT_ROOM, DEFAULT_ROOM_NAME, type ChatMessage, type RoomSummary, type UserRef } from '../../amplify/core/protocol';
import { mergeMessages } from '../realtime/merge';
import { ChatError, type ChatSocket, type ClientError, type ConnectionState, type CreateRoomRequest } from '../realtime/socket';

export const TYPING_TTL_MS = 4_000;
const LOBBY_LABEL = { name: DEFAULT_ROOM_NAME, private: false } as const;

export interface PendingMessage {
  clientMsgId: string;
  text: string;
  status: 'sending' | 'failed';
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
  unread: number;
  /** The server's read marker: seqs up to it are read. */
  lastRead: number;
  /** `lastRead` as it was when the room was opened: the "New messages" divider goes above the first message from others after it. */
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
  'on' | 'start' | 'stop' | 'join' | 'leave' | 'createRoom' | 'listRooms' | 'loadOlder' | 'typing' | 'sendMessage' | 'retry' | 'discard' | 'state' | 'connection'
>;

const emptyRoom = (id: string, summary?: RoomSummary): RoomView => ({
  id,
  summary,
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

const preview = (text: string) => (text.length > 140 ? `${text.slice(0, 140)}…` : text);

export class ChatStore {
  private state: ChatState;
  private listeners = new Set<() => void>();
  private unsubscribe: (() => void)[] = [];
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly storageKey: string;

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
    for (const id of followed) rooms[id] = { ...emptyRoom(id), followed: true, label: saved.labels[id] ?? (id === DEFAULT_ROOM ? LOBBY_LABEL : undefined) };
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
    const prev = this.state.rooms[id] ?? emptyRoom(id, this.state.directory.find((r) => r.id === id));
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
        this.updateRoom(e.room.id, () => ({ summary: e.room, followed: true, members: e.members, blocked: undefined }));
        this.upsertDirectory(e.room);
        this.save();
      }),
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
      s.on('rooms', (rooms) => this.set({ directory: rooms, directoryLoaded: true })),
      s.on('error', (error) => this.set({ notice: error.message })),
    );
    s.start(Object.values(this.state.rooms).filter((r) => r.followed).map((r) => r.id));
  }

  dispose(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    clearTimeout(this.typingTimer);
    this.socket.stop();
  }

  // ------------------------------------------------------------ actions

  /** Opens a room, joining it first if it is not followed yet. */
  select(id: string): void {
    const room = this.state.rooms[id];
    this.set({ current: id });
    this.updateRoom(id, () => ({ unread: 0 }));
    this.save();
    if (!room?.followed) void this.join(id);
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
    this.updateRoom(id, () => ({ followed: false, members: [], typing: [], blocked: `You left ${title}. Join it again to post.` }));
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

  /** Stub for the UI branch; the realtime branch implements it. */
  async editMessage(_room: string, _seq: number, _text: string): Promise<void> {
    throw new ChatError('unavailable', 'Editing messages is not available yet.');
  }

  /** Stub for the UI branch; the realtime branch implements it. */
  async deleteMessage(_room: string, _seq: number): Promise<void> {
    throw new ChatError('unavailable', 'Deleting messages is not available yet.');
  }

  /** Stub for the UI branch; the realtime branch implements it (resolves to the room id and selects it). */
  async openDm(_name: string): Promise<string> {
    throw new ChatError('unavailable', 'Direct messages are not available yet.');
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
    const pending: PendingMessage = { clientMsgId, text, status: 'sending', ts: Date.now() };
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
    this.updateRoom(id, (r) => {
      const messages = mergeMessages(r.messages, incoming);
      const patch: Partial<RoomView> = { messages };
      if (source === 'initial') Object.assign(patch, { loaded: true, hasOlder: hasMore ?? false });
      if (source === 'older') patch.hasOlder = hasMore ?? false;
      const fromOthers = source === 'live' || source === 'catchup' ? incoming.filter((m) => m.senderId !== me.id) : [];
      if (fromOthers.length) {
        if (id !== current || (typeof document !== 'undefined' && document.hidden)) patch.unread = r.unread + fromOthers.length;
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
    this.syncTitle();
  }

  private onAck(e: { room: string; clientMsgId: string; seq: number; id: string; ts: number }): void {
    const { me } = this.state;
    this.updateRoom(e.room, (r) => {
      const p = r.pending.find((x) => x.clientMsgId === e.clientMsgId);
      if (!p) return {};
      const message: ChatMessage = { room: e.room, seq: e.seq, id: e.id, senderId: me.id, senderName: me.name, text: p.text, ts: e.ts };
      return { pending: r.pending.filter((x) => x !== p), messages: mergeMessages(r.messages, [message]) };
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

function errorText(err: unknown): string {
  if (err instanceof ChatError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** A room's name and privacy: the server's summary, else what the last session remembered. */
export const roomLabelOf = (room: RoomView | undefined): RoomLabel | undefined => room?.summary ?? room?.label;

/** How a room is named in text: "#name" for public rooms, the bare name for private ones (drawn with a lock). */
export const roomTitle = (room: RoomView | undefined, id: string): string => {
  const label = roomLabelOf(room);
  return (label?.private ? '' : '#') + (label?.name ?? id);
};

/** Unsent messages to draw: one whose live echo already shows is not drawn twice. */
export function visiblePending(room: RoomView): readonly PendingMessage[] {
  return room.pending.some((p) => p.echo !== undefined) ? room.pending.filter((p) => p.status === 'failed' || p.echo === undefined) : room.pending;
}
