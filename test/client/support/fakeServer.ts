/**
 * A small in-process chat server that speaks Parley's protocol over a real
 * `ws` socket, with knobs to misbehave the ways a real deployment can: drop
 * sockets, lose acks, skip or reorder fan-out, rate-limit, refuse connections,
 * end sessions (an expired token, lost room registrations). Frames are parsed
 * by the real protocol module, so its schemas decide what is valid here too,
 * and the room rules are the real server's (amplify/core/chat.ts and
 * connections.ts): a frame without a room means the socket's current room,
 * and acting in a room the socket has not joined is answered `not_joined`.
 */
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  DEFAULT_ROOM,
  DEFAULT_ROOM_NAME,
  LIMITS,
  parseAction,
  ProtocolError,
  errorEvent,
  type ChatMessage,
  type ClientAction,
  type RoomSummary,
  type ServerEvent,
  type UserRef,
} from '../../../amplify/core/protocol';

interface Conn {
  ws: WebSocket;
  /** The token it connected with. */
  token: string;
  user: UserRef;
  rooms: Set<string>;
  /** The room the socket joined last, where a sendmessage without `room` goes; the lobby when it left that one. */
  currentRoom: string;
  /** The server forgot this socket's rooms: its next action gets session_lost. */
  lost: boolean;
}

interface Room {
  summary: RoomSummary;
  /** Ascending by seq. */
  messages: ChatMessage[];
  /** Seqs that will never hold a message (a failed or duplicate send). */
  skipped: Set<number>;
  members: Set<string>;
}

/** Tests pass the user name as the token; a refreshed token is `name~n`, the same user. */
const userFromToken = (token: string): UserRef => {
  const name = token.split('~')[0]!;
  return { id: `u-${name}`, name };
};

/** A private room's id, as the server makes it: unguessable, and valid as a room id. */
const privateRoomId = (): string => `p${randomBytes(15).toString('hex')}`;

/** As the real server's requireJoined: a socket acts only in rooms it joined. */
function requireJoined(conn: Conn, room: string): void {
  if (!conn.rooms.has(room)) throw new ProtocolError('not_joined', `Join "${room}" before posting to it`);
}

export class FakeChatServer {
  readonly rooms = new Map<string, Room>();
  readonly conns = new Set<Conn>();
  /** Every valid action received, in order, with who sent it. */
  readonly log: { user: string; action: ClientAction; at: number }[] = [];
  connects = 0;
  // ---- knobs
  refuse = false;
  /** Answer nothing, not even pongs: a half-open socket. */
  silent = false;
  /** Store the next N messages but lose their acks. */
  loseAcks = 0;
  /** Refuse the next N sendmessage with rate_limited. */
  rateLimit = 0;
  /** Leave the next N joinroom frames unanswered, as a server too slow to reply would. */
  ignoreJoins = 0;
  /** Leave the next N history frames unanswered. */
  ignoreHistory = 0;
  /** Return false to keep a message from one connection's fan-out. */
  fanoutFilter: (msg: ChatMessage, to: UserRef) => boolean = () => true;
  /** Send each fan-out frame twice. */
  duplicateFanout = false;
  /** Most distinct messages one connection ever had sent but unacknowledged at once. */
  maxInflight = 0;
  /** Tokens past their `exp`: refused at connect, and an open socket's next action gets token_expired. */
  readonly expired = new Set<string>();
  /** After token_expired or session_lost, close the socket (as @connections DELETE does) this much later; null: never. */
  sessionEndCloseMs: number | null = 5;
  /** Rooms per `rooms` reply; the rest follow through `nextCursor`, as the real server pages them. */
  roomsPerPage = Infinity;
  private unacked = new Map<Conn, Set<string>>();
  private dedup = new Map<string, ChatMessage>();
  private wss!: WebSocketServer;
  port = 0;

  static async start(): Promise<FakeChatServer> {
    const s = new FakeChatServer();
    s.room(DEFAULT_ROOM, DEFAULT_ROOM_NAME);
    s.wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      verifyClient: (info, cb) => {
        const token = new URL(info.req.url ?? '/', 'http://x').searchParams.get('token');
        if (s.refuse || !token || s.expired.has(token)) return cb(false, 401);
        cb(true);
      },
    });
    await new Promise<void>((r) => s.wss.once('listening', () => r()));
    s.port = (s.wss.address() as { port: number }).port;
    s.wss.on('connection', (ws, req) => s.accept(ws, new URL(req.url ?? '/', 'http://x').searchParams.get('token')!));
    return s;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  room(id: string, name = id, isPrivate = false, members: string[] = []): Room {
    const room: Room = { summary: { id, name, private: isPrivate, createdBy: 'system', lastSeq: 0 }, messages: [], skipped: new Set(), members: new Set(members) };
    this.rooms.set(id, room);
    return room;
  }

  /** Posts as someone not connected, as another user's Lambda would. */
  post(roomId: string, senderName: string, text: string): ChatMessage {
    return this.store(this.rooms.get(roomId)!, { id: `u-${senderName}`, name: senderName }, text);
  }

  /** Burns a seq that will never hold a message, as a failed write does. */
  skip(roomId: string): number {
    const room = this.rooms.get(roomId)!;
    const seq = ++room.summary.lastSeq;
    room.skipped.add(seq);
    return seq;
  }

  /** Takes the next seq now and writes (and fans out) its message only when `write` is called: a slow writer. */
  reserve(roomId: string, senderName: string, text: string): { seq: number; write: () => ChatMessage } {
    const room = this.rooms.get(roomId)!;
    const seq = ++room.summary.lastSeq;
    return { seq, write: () => this.store(room, { id: `u-${senderName}`, name: senderName }, text, seq) };
  }

  /** Every token this user's open sockets carry expires now; what they send next is refused. */
  expireTokens(userName: string): void {
    for (const c of this.conns) if (c.user.name === userName) this.expired.add(c.token);
  }

  /** Forgets this user's sockets' room registrations, as a lost connection record would. */
  loseSessions(userName: string): void {
    for (const c of this.conns) if (c.user.name === userName) c.lost = true;
  }

  /** Takes this user's sockets out of `room` without telling them, as an expired membership row would: their next send there is refused with not_joined. */
  forgetRoom(userName: string, room: string): void {
    for (const c of this.conns) {
      if (c.user.name !== userName) continue;
      c.rooms.delete(room);
      if (c.currentRoom === room) c.currentRoom = DEFAULT_ROOM;
    }
  }

  /** Tokens of the sockets open now, in connection order. */
  tokens(userName?: string): string[] {
    return [...this.conns].filter((c) => !userName || c.user.name === userName).map((c) => c.token);
  }

  /** Drops every socket (or one user's), as a network failure would: no close handshake. */
  drop(userName?: string): void {
    for (const c of this.conns) if (!userName || c.user.name === userName) c.ws.terminate();
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise((r) => this.wss.close(r));
  }

  messages(roomId: string): ChatMessage[] {
    return this.rooms.get(roomId)?.messages ?? [];
  }

  // ------------------------------------------------------------ protocol

  private accept(ws: WebSocket, token: string): void {
    this.connects++;
    const conn: Conn = { ws, token, user: userFromToken(token), rooms: new Set([DEFAULT_ROOM]), currentRoom: DEFAULT_ROOM, lost: false };
    this.conns.add(conn);
    ws.on('close', () => this.conns.delete(conn));
    ws.on('message', (data) => {
      if (this.silent) return;
      let action: ClientAction;
      try {
        action = parseAction(String(data));
      } catch (err) {
        if (err instanceof ProtocolError) this.send(conn, errorEvent(err));
        return;
      }
      this.log.push({ user: conn.user.name, action, at: Date.now() });
      // As the real handlers do: the token's exp is checked on every action, before anything is performed.
      const ended = this.expired.has(conn.token) ? 'token_expired' : conn.lost ? 'session_lost' : undefined;
      if (ended) return this.endSession(conn, action, ended);
      try {
        this.perform(conn, action);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        const details = { action: action.action, reqId: action.reqId, ...('clientMsgId' in action ? { clientMsgId: action.clientMsgId } : {}) };
        this.send(conn, errorEvent(new ProtocolError(err.code, err.message, { ...details, ...err.details })));
      }
    });
  }

  /** Refuses the action unperformed, then closes the socket with a normal close, as the server's @connections DELETE does. */
  private endSession(conn: Conn, action: ClientAction, code: 'token_expired' | 'session_lost'): void {
    const text = code === 'token_expired' ? 'Your session has expired; reconnect with a fresh token' : 'This connection lost its rooms; reconnect';
    const details = { action: action.action, reqId: action.reqId, ...('clientMsgId' in action ? { clientMsgId: action.clientMsgId } : {}) };
    this.send(conn, errorEvent(new ProtocolError(code, text, details)));
    if (this.sessionEndCloseMs !== null) setTimeout(() => conn.ws.close(1000), this.sessionEndCloseMs);
  }

  private send(conn: Conn, event: ServerEvent): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(event));
  }

  private visible(room: Room | undefined, user: UserRef): Room {
    if (!room || (room.summary.private && !room.members.has(user.name))) throw new ProtocolError('room_not_found', 'No such room');
    return room;
  }

  /** `self`: the socket that sent it with a clientMsgId, which builds it from the ack and gets no copy (as amplify/core/chat.ts). */
  private store(room: Room, sender: UserRef, text: string, reserved?: number, self?: Conn): ChatMessage {
    const seq = reserved ?? ++room.summary.lastSeq;
    const msg: ChatMessage = { room: room.summary.id, seq, id: `m${room.summary.id}-${seq}`, senderId: sender.id, senderName: sender.name, text, ts: Date.now() };
    room.messages.push(msg);
    room.messages.sort((a, b) => a.seq - b.seq);
    for (const c of this.conns) {
      if (c === self || !c.rooms.has(room.summary.id) || !this.fanoutFilter(msg, c.user)) continue;
      this.send(c, { type: 'message', ...msg });
      if (this.duplicateFanout) this.send(c, { type: 'message', ...msg });
    }
    return msg;
  }

  private membersOf(roomId: string): UserRef[] {
    const seen = new Map<string, UserRef>();
    for (const c of this.conns) if (c.rooms.has(roomId)) seen.set(c.user.id, c.user);
    return [...seen.values()];
  }

  private perform(conn: Conn, a: ClientAction): void {
    switch (a.action) {
      case 'ping':
        return this.send(conn, { type: 'pong', ts: Date.now(), reqId: a.reqId });
      case 'sendmessage': {
        const roomId = a.room ?? conn.currentRoom;
        requireJoined(conn, roomId);
        const unacked = this.unacked.get(conn) ?? new Set<string>();
        this.unacked.set(conn, unacked);
        unacked.add(a.clientMsgId ?? '');
        this.maxInflight = Math.max(this.maxInflight, unacked.size);
        if (this.rateLimit > 0) {
          this.rateLimit--;
          unacked.delete(a.clientMsgId ?? '');
          throw new ProtocolError('rate_limited', 'Slow down', { retryAfterMs: 30 });
        }
        const key = `${roomId}|${conn.user.id}|${a.clientMsgId}`;
        const prior = a.clientMsgId ? this.dedup.get(key) : undefined;
        const msg = prior ?? this.store(this.rooms.get(roomId)!, conn.user, a.message, undefined, a.clientMsgId ? conn : undefined);
        if (a.clientMsgId && !prior) this.dedup.set(key, msg);
        if (this.loseAcks > 0) {
          this.loseAcks--;
          return;
        }
        unacked.delete(a.clientMsgId ?? '');
        return this.send(conn, { type: 'ack', room: roomId, seq: msg.seq, id: msg.id, ts: msg.ts, clientMsgId: a.clientMsgId, reqId: a.reqId, duplicate: !!prior });
      }
      case 'joinroom': {
        if (this.ignoreJoins > 0) {
          this.ignoreJoins--;
          return;
        }
        const room = this.visible(this.rooms.get(a.room), conn.user);
        conn.rooms.add(a.room);
        conn.currentRoom = a.room;
        const members = this.membersOf(a.room);
        this.send(conn, { type: 'joined', room: { ...room.summary }, members, memberCount: members.length, lastRead: room.summary.lastSeq, unread: 0, reqId: a.reqId });
        for (const c of this.conns) if (c !== conn && c.rooms.has(a.room)) this.send(c, { type: 'presence', room: a.room, event: 'join', user: conn.user, members });
        return;
      }
      case 'leaveroom':
        requireJoined(conn, a.room);
        conn.rooms.delete(a.room);
        if (conn.currentRoom === a.room) conn.currentRoom = DEFAULT_ROOM;
        return this.send(conn, { type: 'left', room: a.room, reqId: a.reqId });
      case 'createroom': {
        // The protocol's schema has already refused a private room with a `room`, or without a `name`.
        const id = a.private ? privateRoomId() : a.room;
        if (id === undefined) throw new ProtocolError('bad_request', 'room: required for a public room');
        if (this.rooms.has(id)) throw new ProtocolError('room_exists', 'Exists');
        this.room(id, a.name ?? id, a.private, [conn.user.name, ...a.invite]);
        return this.perform(conn, { action: 'joinroom', room: id, reqId: a.reqId });
      }
      case 'listrooms': {
        const rooms = [...this.rooms.values()].filter((r) => !r.summary.private || r.members.has(conn.user.name)).map((r) => ({ ...r.summary }));
        const from = a.cursor ? Number(a.cursor) : 0;
        const page = rooms.slice(from, from + this.roomsPerPage);
        const next = from + page.length < rooms.length ? String(from + page.length) : undefined;
        return this.send(conn, { type: 'rooms', rooms: page, reqId: a.reqId, ...(next ? { nextCursor: next } : {}) });
      }
      case 'history': {
        if (this.ignoreHistory > 0) {
          this.ignoreHistory--;
          return;
        }
        const room = this.visible(this.rooms.get(a.room), conn.user);
        const limit = Math.min(a.limit ?? LIMITS.historyPageDefault, LIMITS.historyPageMax);
        // Skipped seqs take a place in a page, as their markers do in the real table.
        const entries = [...room.messages.map((m) => ({ seq: m.seq, m })), ...[...room.skipped].map((seq) => ({ seq, m: undefined }))].sort((x, y) => x.seq - y.seq);
        let page: typeof entries;
        let hasMore: boolean;
        if (a.after !== undefined) {
          const rest = entries.filter((e) => e.seq > a.after!);
          page = rest.slice(0, limit);
          hasMore = rest.length > limit;
        } else {
          const below = a.before === undefined ? entries : entries.filter((e) => e.seq < a.before!);
          page = below.slice(-limit);
          hasMore = below.length > limit;
        }
        const messages = page.flatMap((e) => (e.m ? [e.m] : []));
        const skipped = page.flatMap((e) => (e.m ? [] : [e.seq]));
        return this.send(conn, { type: 'history', room: a.room, messages, skipped, changes: [], lastSeq: room.summary.lastSeq, hasMore, reqId: a.reqId });
      }
      case 'typing':
        requireJoined(conn, a.room);
        for (const c of this.conns) if (c !== conn && c.rooms.has(a.room)) this.send(c, { type: 'typing', room: a.room, user: conn.user });
        return;
    }
  }
}
