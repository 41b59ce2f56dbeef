/**
 * A small in-process chat server that speaks Parley's protocol over a real
 * `ws` socket, with knobs to misbehave the ways a real deployment can: drop
 * sockets, lose acks, skip or reorder fan-out, rate-limit, refuse connections,
 * end sessions (an expired token, lost room registrations). Frames are parsed
 * by the real protocol module, so its schemas decide what is valid here too,
 * and the room rules are the real server's (amplify/core/chat.ts and
 * connections.ts): a frame without a room means the socket's current room,
 * and acting in a room the socket has not joined is answered `not_joined`.
 *
 * Membership belongs to the user, not the socket (spec-issue11): joining a
 * public room makes you a member, `sync` seats a socket in all of your rooms,
 * leaving ends the membership on every socket, read markers are per user,
 * edits and deletes are seq'd changes, and DMs are private rooms of two.
 */
import { createHash, randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  DEFAULT_ROOM,
  DEFAULT_ROOM_NAME,
  LIMITS,
  parseAction,
  ProtocolError,
  errorEvent,
  type ActionOf,
  type ChatMessage,
  type ClientAction,
  type MyRoom,
  type RoomChange,
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
  /** Ascending by seq; each in its current state (edited text, or a tombstone). */
  messages: ChatMessage[];
  /** Seqs that will never hold a message (a failed or duplicate send). */
  skipped: Set<number>;
  /** Edits and deletes, each at its own seq. */
  changes: RoomChange[];
  /** Members by user name (the lobby's are implicit: everyone). */
  members: Set<string>;
  /** Read markers by user name; the lobby's too. */
  reads: Map<string, number>;
}

/** Tests pass the user name as the token; a refreshed token is `name~n`, the same user. */
const userFromToken = (token: string): UserRef => {
  const name = token.split('~')[0]!;
  return { id: `u-${name}`, name };
};

/** A private room's id, as the server makes it: unguessable, and valid as a room id. */
const privateRoomId = (): string => `p${randomBytes(15).toString('hex')}`;

/** A DM's id: stable per pair, as the real server makes it. */
const dmRoomId = (a: UserRef, b: UserRef): string =>
  `d${createHash('sha256')
    .update([a.id, b.id].sort().join(' '))
    .digest('hex')
    .slice(0, 31)}`;

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
  /** Leave the next N sync frames unanswered. */
  ignoreSync = 0;
  /** Hold every `read` reply until released: lets a test see what the client sends while one is in flight. */
  holdReads = false;
  private heldReads: (() => void)[] = [];
  /** Rooms per `synced` reply; the rest follow through `nextCursor`. */
  syncPerPage: number = LIMITS.roomsPageMax;
  /** Return false to keep a message from one connection's fan-out. */
  fanoutFilter: (msg: ChatMessage, to: UserRef) => boolean = () => true;
  /** Return false to keep a change (edit or delete) from one connection's fan-out. */
  changeFilter: (change: RoomChange, to: UserRef) => boolean = () => true;
  /** Chat names the name registry knows: everyone who connected or posted, and those added here. */
  readonly users = new Set<string>();
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
  /**
   * Rooms whose home region cannot be reached (issue 10): sends to them, and
   * joins that would make a new member, are refused with home_unavailable.
   * Reading still works, as it does in the real deployment.
   */
  readonly homeDown = new Set<string>();
  /** The retryAfterMs a home_unavailable carries (the real server says 2000). */
  homeRetryAfterMs = 20;
  /** Refuse the next N sync frames with home_unavailable. */
  refuseSyncs = 0;
  /**
   * URL paths that refuse every connection, as a region that is down does:
   * tests give each region its own path on this one server (one shared
   * store, as the replicated tables are), e.g. `/a` and `/b`.
   */
  readonly downPaths = new Set<string>();
  /** The URL path of every connection accepted, in order. */
  readonly paths: string[] = [];
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
        const url = new URL(info.req.url ?? '/', 'http://x');
        const token = url.searchParams.get('token');
        if (s.downPaths.has(url.pathname)) return cb(false, 503);
        if (s.refuse || !token || s.expired.has(token)) return cb(false, 401);
        s.paths.push(url.pathname);
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

  /** A room, with these people as members already (read up to its end). */
  room(id: string, name = id, isPrivate = false, members: string[] = [], createdBy = 'system'): Room {
    const room: Room = {
      summary: { id, name, private: isPrivate, createdBy, lastSeq: 0 },
      messages: [],
      skipped: new Set(),
      changes: [],
      members: new Set(),
      reads: new Map(),
    };
    this.rooms.set(id, room);
    for (const m of members) this.addMember(room, m);
    return room;
  }

  /** Posts as someone not connected, as another user's Lambda would. */
  post(roomId: string, senderName: string, text: string): ChatMessage {
    this.users.add(senderName);
    return this.store(this.rooms.get(roomId)!, { id: `u-${senderName}`, name: senderName }, text);
  }

  /** Edits (or with `text` undefined, deletes) a message as its sender would from elsewhere; fans the change out. */
  change(roomId: string, seq: number, text?: string): RoomChange {
    const room = this.rooms.get(roomId)!;
    const target = room.messages.find((m) => m.seq === seq)!;
    return this.applyChange(room, target, text);
  }

  /** The user's read marker in a room (undefined: never read there). */
  lastRead(roomId: string, userName: string): number | undefined {
    return this.rooms.get(roomId)?.reads.get(userName);
  }

  /** Lets every held `read` reply go (see holdReads). */
  releaseReads(): void {
    this.holdReads = false;
    for (const go of this.heldReads.splice(0)) go();
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
    this.users.add(conn.user.name);
    this.conns.add(conn);
    // $connect seats every socket in the lobby and tells it.
    this.announce(conn, DEFAULT_ROOM);
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

  /** As amplify/core/regions.ts homeUnavailable, with this server's retryAfterMs. */
  private homeUnavailable(room: string): ProtocolError {
    return new ProtocolError('home_unavailable', `The home region of "${room}" cannot be reached right now; please retry`, { retryAfterMs: this.homeRetryAfterMs });
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

  private isMember(room: Room, userName: string): boolean {
    return room.summary.id === DEFAULT_ROOM || room.members.has(userName);
  }

  /** Makes the user a member (read up to the room's end, as joining is not "500 unread"); true if they were not one. */
  private addMember(room: Room, userName: string): boolean {
    if (room.summary.id !== DEFAULT_ROOM && room.members.has(userName)) return false;
    if (room.summary.id !== DEFAULT_ROOM) room.members.add(userName);
    if (!room.reads.has(userName)) room.reads.set(userName, room.summary.lastSeq);
    return true;
  }

  /** Messages from others after the user's marker, not deleted, capped as the server counts them. */
  private unread(room: Room, user: UserRef): number {
    const lastRead = room.reads.get(user.name) ?? room.summary.lastSeq;
    const n = room.messages.filter((m) => m.seq > lastRead && !m.deleted && m.senderId !== user.id).length;
    return Math.min(n, LIMITS.unreadMax);
  }

  private myRoom(room: Room, user: UserRef): MyRoom {
    // The lobby's marker starts where the user first met it.
    if (!room.reads.has(user.name)) room.reads.set(user.name, room.summary.lastSeq);
    return { ...room.summary, lastRead: room.reads.get(user.name)!, unread: this.unread(room, user) };
  }

  /** This user's sockets, other than `except`. */
  private socketsOf(userName: string, except?: Conn): Conn[] {
    return [...this.conns].filter((c) => c.user.name === userName && c !== except);
  }

  /** Tells a room this socket sat down, unless another socket of the same user sits there already. */
  private announce(conn: Conn, roomId: string): void {
    if ([...this.conns].some((c) => c !== conn && c.user.id === conn.user.id && c.rooms.has(roomId))) return;
    const members = this.membersOf(roomId);
    for (const c of this.conns) if (c !== conn && c.rooms.has(roomId)) this.send(c, { type: 'presence', room: roomId, event: 'join', user: conn.user, members });
  }

  /** Rooms of this user's, in the order `sync` lists them: the lobby, then the rest by id. */
  private roomsOf(userName: string): Room[] {
    const mine = [...this.rooms.values()].filter((r) => r.summary.id !== DEFAULT_ROOM && r.members.has(userName));
    mine.sort((a, b) => (a.summary.id < b.summary.id ? -1 : a.summary.id > b.summary.id ? 1 : 0));
    return [this.rooms.get(DEFAULT_ROOM)!, ...mine];
  }

  private applyChange(room: Room, target: ChatMessage, text: string | undefined, self?: Conn, reqId?: string): RoomChange {
    const seq = ++room.summary.lastSeq;
    const ts = Date.now();
    const base = { room: room.summary.id, seq, target: target.seq, ts, senderId: target.senderId };
    const change: RoomChange = text === undefined ? { kind: 'delete', ...base } : { kind: 'edit', ...base, text };
    room.changes.push(change);
    const updated: ChatMessage = text === undefined ? { ...target, text: '', deleted: true, editSeq: seq, editedAt: ts } : { ...target, text, editSeq: seq, editedAt: ts };
    room.messages[room.messages.indexOf(target)] = updated;
    for (const c of this.conns) {
      if (c === self || !c.rooms.has(room.summary.id) || !this.changeFilter(change, c.user)) continue;
      this.send(c, { type: 'change', ...change });
    }
    if (self) this.send(self, { type: 'change', ...change, reqId });
    return change;
  }

  private editOrDelete(conn: Conn, a: ActionOf<'editmessage'> | ActionOf<'deletemessage'>): void {
    requireJoined(conn, a.room);
    const room = this.rooms.get(a.room)!;
    const target = room.messages.find((m) => m.seq === a.seq);
    if (!target || target.deleted) throw new ProtocolError('message_not_found', 'No message at that seq');
    if (target.senderId !== conn.user.id) throw new ProtocolError('forbidden', 'That message is not yours');
    this.applyChange(room, target, a.action === 'editmessage' ? a.message : undefined, conn, a.reqId);
  }

  /** The `read` reply to the caller, and the same (without reqId) to the user's other sockets. */
  private read(conn: Conn, a: ActionOf<'read'>): void {
    const room = this.visible(this.rooms.get(a.room), conn.user);
    if (!this.isMember(room, conn.user.name)) throw new ProtocolError('not_joined', `You are not in "${a.room}"`);
    if (a.seq > room.summary.lastSeq) throw new ProtocolError('bad_request', 'seq: past the end of the room');
    const stored = Math.max(room.reads.get(conn.user.name) ?? 0, a.seq);
    room.reads.set(conn.user.name, stored);
    const go = () => {
      const event = { type: 'read', room: a.room, seq: stored, unread: this.unread(room, conn.user), lastSeq: room.summary.lastSeq } as const;
      this.send(conn, { ...event, reqId: a.reqId });
      for (const c of this.socketsOf(conn.user.name, conn)) this.send(c, event);
    };
    if (this.holdReads) this.heldReads.push(go);
    else go();
  }

  private membersOf(roomId: string): UserRef[] {
    const seen = new Map<string, UserRef>();
    for (const c of this.conns) if (c.rooms.has(roomId)) seen.set(c.user.id, c.user);
    return [...seen.values()];
  }

  /** Seats the socket, replies `joined`, and tells the user's other sockets when the room is newly theirs. */
  private joined(conn: Conn, room: Room, reqId: string | undefined, added: boolean): void {
    const id = room.summary.id;
    conn.rooms.add(id);
    conn.currentRoom = id;
    const mine = this.myRoom(room, conn.user);
    const members = this.membersOf(id);
    this.send(conn, { type: 'joined', room: { ...room.summary }, members, memberCount: members.length, lastRead: mine.lastRead, unread: mine.unread, reqId });
    // As the real server's join: announced even when seated already (members lists may have drifted).
    this.announce(conn, id);
    if (added) for (const c of this.socketsOf(conn.user.name, conn)) this.send(c, { type: 'roomadded', room: mine });
  }

  private perform(conn: Conn, a: ClientAction): void {
    switch (a.action) {
      case 'ping':
        return this.send(conn, { type: 'pong', ts: Date.now(), reqId: a.reqId });
      case 'sendmessage': {
        const roomId = a.room ?? conn.currentRoom;
        requireJoined(conn, roomId);
        if (this.homeDown.has(roomId)) throw this.homeUnavailable(roomId);
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
        let added = false;
        if (!this.isMember(room, conn.user.name) && this.homeDown.has(a.room)) throw this.homeUnavailable(a.room);
        if (!this.isMember(room, conn.user.name)) {
          const publicRooms = [...this.rooms.values()].filter((r) => !r.summary.private && r.summary.id !== DEFAULT_ROOM && r.members.has(conn.user.name)).length;
          if (publicRooms >= LIMITS.maxPublicRooms) throw new ProtocolError('limit_reached', 'You are in as many public rooms as allowed');
          added = this.addMember(room, conn.user.name);
        }
        return this.joined(conn, room, a.reqId, added);
      }
      case 'leaveroom': {
        const room = this.rooms.get(a.room);
        if (a.room === DEFAULT_ROOM || !room) {
          // The lobby: this socket only, no membership change (tutorial semantics).
          requireJoined(conn, a.room);
          conn.rooms.delete(a.room);
          if (conn.currentRoom === a.room) conn.currentRoom = DEFAULT_ROOM;
          return this.send(conn, { type: 'left', room: a.room, reqId: a.reqId });
        }
        if (!room.members.has(conn.user.name) && !conn.rooms.has(a.room)) throw new ProtocolError('not_joined', `You are not in "${a.room}"`);
        room.members.delete(conn.user.name);
        room.reads.delete(conn.user.name);
        for (const c of this.socketsOf(conn.user.name)) {
          c.rooms.delete(a.room);
          if (c.currentRoom === a.room) c.currentRoom = DEFAULT_ROOM;
        }
        this.send(conn, { type: 'left', room: a.room, reqId: a.reqId });
        for (const c of this.socketsOf(conn.user.name, conn)) this.send(c, { type: 'roomremoved', room: a.room });
        const members = this.membersOf(a.room);
        for (const c of this.conns) if (c.rooms.has(a.room)) this.send(c, { type: 'presence', room: a.room, event: 'leave', user: conn.user, members });
        return;
      }
      case 'createroom': {
        // The protocol's schema has already refused a private room with a `room`, or without a `name`.
        const id = a.private ? privateRoomId() : a.room;
        if (id === undefined) throw new ProtocolError('bad_request', 'room: required for a public room');
        if (this.rooms.has(id)) throw new ProtocolError('room_exists', 'Exists');
        const invitees = a.private ? a.invite.filter((n) => n !== conn.user.name) : [];
        const room = this.room(id, a.name ?? id, a.private, [conn.user.name, ...invitees], conn.user.id);
        if (!a.private) {
          for (const c of this.conns) if (c.rooms.has(DEFAULT_ROOM)) this.send(c, { type: 'roomcreated', room: { ...room.summary } });
        }
        for (const name of invitees) {
          const invitee = userFromToken(name);
          for (const c of this.socketsOf(name)) this.send(c, { type: 'roomadded', room: this.myRoom(room, invitee), by: conn.user });
        }
        return this.joined(conn, room, a.reqId, true);
      }
      case 'opendm': {
        if (!this.users.has(a.user)) throw new ProtocolError('unknown_user', `No one is called "${a.user}"`);
        if (a.user === conn.user.name) throw new ProtocolError('bad_request', 'user: that is you');
        const peer = userFromToken(a.user);
        const id = dmRoomId(conn.user, peer);
        let room = this.rooms.get(id);
        if (!room) {
          const dm = [conn.user, peer].sort((x, y) => (x.id < y.id ? -1 : 1));
          room = this.room(id, dm.map((u) => u.name).join(', '), true, [], conn.user.id);
          room.summary.dm = dm;
        }
        const callerAdded = this.addMember(room, conn.user.name);
        const peerAdded = this.addMember(room, peer.name);
        if (peerAdded) for (const c of this.socketsOf(peer.name)) this.send(c, { type: 'roomadded', room: this.myRoom(room, peer), by: conn.user });
        return this.joined(conn, room, a.reqId, callerAdded);
      }
      case 'sync': {
        if (this.ignoreSync > 0) {
          this.ignoreSync--;
          return;
        }
        if (this.refuseSyncs > 0) {
          this.refuseSyncs--;
          throw this.homeUnavailable(DEFAULT_ROOM);
        }
        const all = this.roomsOf(conn.user.name);
        const from = a.cursor ? all.findIndex((r) => r.summary.id > a.cursor!) : 0;
        const page = from < 0 ? [] : all.slice(from, from + this.syncPerPage);
        const more = from >= 0 && from + page.length < all.length;
        const rooms = page.map((r) => this.myRoom(r, conn.user));
        const fresh = page.map((r) => r.summary.id).filter((id) => !conn.rooms.has(id));
        for (const r of page) conn.rooms.add(r.summary.id);
        this.send(conn, { type: 'synced', rooms, reqId: a.reqId, ...(more ? { nextCursor: page.at(-1)!.summary.id } : {}) });
        // Presence after the reply, as the real server announces once the socket is seated.
        for (const id of fresh) this.announce(conn, id);
        return;
      }
      case 'read':
        return this.read(conn, a);
      case 'editmessage':
      case 'deletemessage':
        return this.editOrDelete(conn, a);
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
        type Entry = { seq: number; m?: ChatMessage; c?: RoomChange };
        const entries: Entry[] = [
          ...room.messages.map((m) => ({ seq: m.seq, m })),
          ...room.changes.map((c) => ({ seq: c.seq, c })),
          ...[...room.skipped].map((seq) => ({ seq })),
        ].sort((x, y) => x.seq - y.seq);
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
        const changes = page.flatMap((e) => (e.c ? [e.c] : []));
        const skipped = page.flatMap((e) => (e.m || e.c ? [] : [e.seq]));
        return this.send(conn, { type: 'history', room: a.room, messages, skipped, changes, lastSeq: room.summary.lastSeq, hasMore, reqId: a.reqId });
      }
      case 'typing':
        requireJoined(conn, a.room);
        for (const c of this.conns) if (c !== conn && c.rooms.has(a.room)) this.send(c, { type: 'typing', room: a.room, user: conn.user });
        return;
    }
  }
}
