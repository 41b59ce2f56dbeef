/**
 * The chat service: what each action does, independent of Lambda. Handlers
 * parse and authenticate, then call `perform`; tests call it directly.
 */
import {
  addToRoom,
  membersOf,
  registerConnection,
  removeConnection,
  removeFromRoom,
  roomConnections,
  type Authenticated,
  type Connection,
  type Identity,
  type RoomConnection,
} from './connections';
import type { ChatDeps } from './deps';
import { broadcast, deliver, reply } from './fanout';
import { history, postMessage } from './messages';
import { DEFAULT_ROOM, LIMITS, ProtocolError, type ActionOf, type ClientAction } from './protocol';
import { admit } from './ratelimit';
import { accessibleRoom, createRoom, ensureRoom, listRooms, summary } from './rooms';
import { typingDone, typingDue } from './typing';

export interface Caller extends Authenticated {
  connectionId: string;
}

/** $connect: remember the connection, seat it in the lobby, tell the lobby. */
export async function connect(deps: ChatDeps, caller: Caller): Promise<void> {
  await ensureRoom(deps);
  await registerConnection(deps, caller.connectionId, caller, DEFAULT_ROOM);
  await announce(deps, DEFAULT_ROOM, 'join', caller, { self: caller.connectionId });
}

/** $disconnect: forget the connection and tell each room it was in. */
export async function disconnect(deps: ChatDeps, connectionId: string): Promise<void> {
  const { who, rooms } = await removeConnection(deps, connectionId);
  if (!who) return;
  await Promise.all(rooms.map((room) => announce(deps, room, 'leave', who)));
}

/**
 * Tells a room someone came or went. Silent when another tab of the same user
 * is there, since nothing others can see has changed, and in rooms with more
 * than `presenceMax` people (people, not sockets: one user's tabs count once).
 */
async function announce(
  deps: ChatDeps,
  room: string,
  event: 'join' | 'leave',
  who: Identity,
  opts: { self?: string; conns?: RoomConnection[] } = {},
): Promise<void> {
  const conns = opts.conns ?? (await roomConnections(deps, room, { maxPeople: LIMITS.presenceMax }));
  const others = conns.filter((c) => c.connectionId !== opts.self);
  const members = membersOf(conns);
  if (others.some((c) => c.userId === who.userId) || members.length > LIMITS.presenceMax) return;
  const user = { id: who.userId, name: who.userName };
  await deliver(deps, others, { type: 'presence', room, event, user, members }, room);
}

/**
 * The caller's connection, once the action is admitted. A connection row can
 * only be missing if its state was lost (swept, or pruned by mistake): the
 * socket's rooms are unknown, so rather than quietly seat it in fewer rooms
 * than its client was told it joined, the session ends and the client
 * reconnects and rejoins. Likewise once the token it opened with has expired.
 */
async function session(deps: ChatDeps, caller: Caller): Promise<Connection> {
  const conn = await admit(deps, caller.userId, caller.connectionId);
  if (!conn) throw new ProtocolError('session_lost', 'This connection was reset; reconnect to continue');
  if (conn.tokenExp !== undefined && deps.now() >= conn.tokenExp * 1000) {
    throw new ProtocolError('token_expired', 'Your sign-in expired; reconnect with a fresh token');
  }
  return conn;
}

function requireJoined(conn: Connection, room: string): void {
  if (!conn.rooms.has(room)) throw new ProtocolError('not_joined', `Join "${room}" before posting to it`);
}

export async function perform(deps: ChatDeps, caller: Caller, action: ClientAction): Promise<void> {
  if (action.action === 'ping') return reply(deps, caller.connectionId, { type: 'pong', ts: deps.now(), reqId: action.reqId });
  const conn = await session(deps, caller);
  switch (action.action) {
    case 'sendmessage':
      return send(deps, caller, conn, action);
    case 'joinroom':
      return join(deps, caller, conn, action.room, action.reqId);
    case 'leaveroom':
      return leave(deps, caller, conn, action);
    case 'createroom': {
      const room = await createRoom(deps, caller, { id: action.room, name: action.name, private: action.private, invite: action.invite });
      return join(deps, caller, conn, room.id, action.reqId);
    }
    case 'listrooms':
      return reply(deps, caller.connectionId, { type: 'rooms', ...(await listRooms(deps, caller.userId, action.cursor)), reqId: action.reqId });
    case 'history': {
      const room = await accessibleRoom(deps, action.room, caller.userId);
      const page = await history(deps, room.id, action);
      return reply(deps, caller.connectionId, { type: 'history', room: room.id, ...page, lastSeq: room.lastSeq, reqId: action.reqId });
    }
    case 'typing': {
      requireJoined(conn, action.room);
      // However many sockets or frames, a user's typing reaches a room once per window.
      if (!(await typingDue(deps, caller.userId, action.room))) return;
      await broadcast(deps, action.room, { type: 'typing', room: action.room, user: { id: caller.userId, name: caller.userName } }, caller.connectionId);
      return;
    }
  }
}

async function send(deps: ChatDeps, caller: Caller, conn: Connection, action: ActionOf<'sendmessage'>): Promise<void> {
  const room = action.room ?? conn.currentRoom;
  requireJoined(conn, room);
  // Looked up only once the seq is reserved (and while the message is written),
  // so every connection whose join landed before this message was sequenced is a recipient.
  let recipients: Promise<RoomConnection[]> | undefined;
  const { message, duplicate } = await postMessage(deps, room, caller, action.message, action.clientMsgId, () => {
    recipients = roomConnections(deps, room);
    recipients.catch(() => undefined);
  });
  const ack = reply(deps, caller.connectionId, {
    type: 'ack',
    room,
    seq: message.seq,
    id: message.id,
    ts: message.ts,
    clientMsgId: action.clientMsgId,
    reqId: action.reqId,
    duplicate,
  });
  // A duplicate was broadcast the first time; the client catches up through history if it missed it.
  // Every post settles before the invocation returns: Lambda freezes whatever is still in flight.
  const [acked, fanout, typed] = await Promise.allSettled([
    ack,
    duplicate || !recipients ? undefined : recipients.then((to) => deliver(deps, to, { type: 'message', ...message }, room)),
    duplicate ? undefined : typingDone(deps, caller.userId, room),
  ]);
  if (typed.status === 'rejected') console.warn(JSON.stringify({ msg: 'typing not reset', room, error: String(typed.reason) }));
  if (fanout.status === 'fulfilled' && fanout.value) {
    console.info(JSON.stringify({ msg: 'fanout', room, seq: message.seq, ...fanout.value }));
  }
  if (fanout.status === 'rejected') throw fanout.reason;
  if (acked.status === 'rejected') throw acked.reason;
}

async function join(deps: ChatDeps, caller: Caller, conn: Connection, roomId: string, reqId?: string): Promise<void> {
  const room = await accessibleRoom(deps, roomId, caller.userId);
  await addToRoom(deps, conn, room.id);
  const conns = await roomConnections(deps, room.id);
  const members = membersOf(conns);
  // Names are at most 32 ASCII characters and ids 128, so presenceMax members stay far below the reply budget.
  await reply(deps, caller.connectionId, {
    type: 'joined',
    room: summary(room),
    members: members.slice(0, LIMITS.presenceMax),
    memberCount: members.length,
    reqId,
  });
  await announce(deps, room.id, 'join', caller, { self: caller.connectionId, conns });
}

async function leave(deps: ChatDeps, caller: Caller, conn: Connection, action: ActionOf<'leaveroom'>): Promise<void> {
  // Leaving a room you are not in must not tell its members anything.
  if (!conn.rooms.has(action.room)) throw new ProtocolError('not_joined', `You are not in "${action.room}"`);
  await removeFromRoom(deps, conn, action.room);
  await reply(deps, caller.connectionId, { type: 'left', room: action.room, reqId: action.reqId });
  await announce(deps, action.room, 'leave', caller);
}
