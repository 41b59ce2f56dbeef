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
  type Connection,
  type Identity,
  type RoomConnection,
} from './connections';
import type { ChatDeps } from './deps';
import { broadcast, deliver, reply } from './fanout';
import { history, postMessage } from './messages';
import { DEFAULT_ROOM, LIMITS, ProtocolError, type ActionOf, type ClientAction } from './protocol';
import { admitOrThrow } from './ratelimit';
import { accessibleRoom, claimUserName, createRoom, ensureRoom, listRooms, summary } from './rooms';

export interface Caller extends Identity {
  connectionId: string;
}

/** $connect: remember the connection, seat it in the lobby, tell the lobby. */
export async function connect(deps: ChatDeps, caller: Caller): Promise<void> {
  await Promise.all([ensureRoom(deps), claimUserName(deps, caller)]);
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
 * is there, since nothing others can see has changed.
 */
async function announce(
  deps: ChatDeps,
  room: string,
  event: 'join' | 'leave',
  who: Identity,
  opts: { self?: string; conns?: RoomConnection[] } = {},
): Promise<void> {
  // One row past the limit is enough to know a room is too big to announce in, so a
  // connect to a crowded lobby reads a bounded page rather than everyone.
  const conns = opts.conns ?? (await roomConnections(deps, room, LIMITS.presenceMax + 1));
  const others = conns.filter((c) => c.connectionId !== opts.self);
  if (others.some((c) => c.userId === who.userId) || conns.length > LIMITS.presenceMax) return;
  const user = { id: who.userId, name: who.userName };
  await deliver(deps, others, { type: 'presence', room, event, user, members: membersOf(conns) });
}

/** A connection row can vanish (TTL, a prune after a transient 410); recreate it rather than fail. */
async function admitted(deps: ChatDeps, caller: Caller): Promise<Connection> {
  const conn = await admitOrThrow(deps, caller.connectionId);
  if (conn) return conn;
  const fresh = await registerConnection(deps, caller.connectionId, caller, DEFAULT_ROOM);
  return (await admitOrThrow(deps, caller.connectionId)) ?? fresh;
}

function requireJoined(conn: Connection, room: string): void {
  if (!conn.rooms.has(room)) throw new ProtocolError('not_joined', `Join "${room}" before posting to it`);
}

export async function perform(deps: ChatDeps, caller: Caller, action: ClientAction): Promise<void> {
  if (action.action === 'ping') return reply(deps, caller.connectionId, { type: 'pong', ts: deps.now(), reqId: action.reqId });
  const conn = await admitted(deps, caller);
  switch (action.action) {
    case 'sendmessage':
      return send(deps, caller, conn, action);
    case 'joinroom':
      return join(deps, caller, conn, action.room, action.reqId);
    case 'leaveroom':
      return leave(deps, caller, conn, action);
    case 'createroom': {
      await createRoom(deps, caller, { id: action.room, name: action.name, private: action.private, invite: action.invite });
      return join(deps, caller, conn, action.room, action.reqId);
    }
    case 'listrooms':
      return reply(deps, caller.connectionId, { type: 'rooms', rooms: await listRooms(deps, caller.userId), reqId: action.reqId });
    case 'history': {
      const room = await accessibleRoom(deps, action.room, caller.userId);
      const page = await history(deps, room.id, action);
      return reply(deps, caller.connectionId, { type: 'history', room: room.id, ...page, lastSeq: room.lastSeq, reqId: action.reqId });
    }
    case 'typing': {
      requireJoined(conn, action.room);
      await broadcast(deps, action.room, { type: 'typing', room: action.room, user: { id: caller.userId, name: caller.userName } }, caller.connectionId);
      return;
    }
  }
}

async function send(deps: ChatDeps, caller: Caller, conn: Connection, action: ActionOf<'sendmessage'>): Promise<void> {
  const room = action.room ?? conn.currentRoom;
  requireJoined(conn, room);
  // Who to tell does not depend on the write, so look them up while it happens.
  const recipients = roomConnections(deps, room);
  recipients.catch(() => undefined);
  const { message, duplicate } = await postMessage(deps, room, caller, action.message, action.clientMsgId);
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
  await Promise.all([ack, duplicate ? undefined : deliver(deps, await recipients, { type: 'message', ...message })]);
}

async function join(deps: ChatDeps, caller: Caller, conn: Connection, roomId: string, reqId?: string): Promise<void> {
  const room = await accessibleRoom(deps, roomId, caller.userId);
  await addToRoom(deps, conn, room.id);
  const conns = await roomConnections(deps, room.id);
  const members = membersOf(conns);
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
