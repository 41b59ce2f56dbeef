/**
 * The chat service: what each action does, independent of Lambda. Handlers
 * parse and authenticate, then call `perform`; tests call it directly.
 */
import { registerConnection, removeConnection, type Authenticated, type ConnectionRow } from './connections';
import type { ChatDeps } from './deps';
import { deleteMessage, editMessage, type Changed } from './edits';
import { broadcast, deliver, forEachLimit, recipientsAt, reply } from './fanout';
import { atHome } from './home';
import { homeOf, isHere, requireHome } from './regions';
import { consoleLog } from './log';
import { history, reserveSeq, skip, storeMessage } from './messages';
import { announce, createAndJoin, join, leave, markRead, openDm, sync } from './membership';
import { DEFAULT_ROOM, ProtocolError, type ActionOf, type ClientAction, type ServerEvent } from './protocol';
import { admit, admitLocally } from './ratelimit';
import { accessibleRoom, ensureRoom, listRooms } from './rooms';
import { typingDone, typingDue } from './typing';

export interface Caller extends Authenticated {
  connectionId: string;
}

/**
 * $connect: remember the connection, seat it in the lobby, tell the lobby.
 * A user with another socket open is already in the lobby, so only their
 * first socket pays for the lobby read that presence needs.
 */
export async function connect(deps: ChatDeps, caller: Caller): Promise<void> {
  await ensureRoom(deps);
  const { otherSockets } = await registerConnection(deps, caller.connectionId, caller, DEFAULT_ROOM);
  if (otherSockets === 0) await announce(deps, DEFAULT_ROOM, 'join', caller, { self: caller.connectionId });
}

/** $disconnect: forget the connection and tell each room it was in. */
export async function disconnect(deps: ChatDeps, connectionId: string): Promise<void> {
  const { who, rooms } = await removeConnection(deps, connectionId);
  if (!who) return;
  // A socket that synced sits in every room of its user's: a few hundred reads, not all at once.
  await forEachLimit(rooms, 16, (room) => announce(deps, room, 'leave', who));
}

/**
 * The caller's connection, once the action is admitted. A connection row can
 * only be missing if its state was lost (swept, or pruned by mistake): the
 * socket's rooms are unknown, so rather than quietly seat it in fewer rooms
 * than its client was told it joined, the session ends and the client
 * reconnects and rejoins. Likewise once the token it opened with has expired.
 * Call `admitLocally` first: it is the part that needs no I/O.
 */
async function session(deps: ChatDeps, caller: Caller): Promise<ConnectionRow> {
  const conn = await admit(deps, caller.userId, caller.connectionId);
  if (!conn) {
    deps.cache?.forgetConnection(caller.connectionId);
    throw new ProtocolError('session_lost', 'This connection was reset; reconnect to continue');
  }
  deps.cache?.noteRooms(caller.connectionId, conn.rooms);
  if (conn.tokenExp !== undefined && deps.now() >= conn.tokenExp * 1000) {
    throw new ProtocolError('token_expired', 'Your sign-in expired; reconnect with a fresh token');
  }
  return conn;
}

function requireJoined(conn: ConnectionRow, room: string): void {
  if (!conn.rooms.has(room)) throw new ProtocolError('not_joined', `Join "${room}" before posting to it`);
}

export async function perform(deps: ChatDeps, caller: Caller, action: ClientAction): Promise<void> {
  if (action.action === 'ping') return reply(deps, caller.connectionId, { type: 'pong', ts: deps.now(), reqId: action.reqId });
  admitLocally(deps, caller.userId);
  if (action.action === 'sendmessage') return send(deps, caller, action);
  const conn = await session(deps, caller);
  switch (action.action) {
    case 'joinroom':
      return join(deps, caller, conn, action.room, action.reqId);
    case 'leaveroom':
      return leave(deps, caller, conn, action.room, action.reqId);
    case 'createroom':
      return createAndJoin(deps, caller, conn, { id: action.room, name: action.name, private: action.private, invite: action.invite }, action.reqId);
    case 'sync':
      return sync(deps, caller, conn, action.cursor, action.reqId);
    case 'read':
      return markRead(deps, caller, action.room, action.seq, action.reqId);
    case 'opendm':
      return openDm(deps, caller, conn, action.user, action.reqId);
    case 'listrooms':
      return reply(deps, caller.connectionId, { type: 'rooms', ...(await listRooms(deps, caller.userId, action.cursor)), reqId: action.reqId });
    case 'history': {
      const room = await accessibleRoom(deps, action.room, caller.userId);
      // Only the home settles gaps: elsewhere a gap may be a message still replicating.
      const page = await history(deps, room.id, action, { settle: isHere(deps, room.homeRegion) });
      return reply(deps, caller.connectionId, { type: 'history', room: room.id, ...page, lastSeq: room.lastSeq, reqId: action.reqId });
    }
    case 'editmessage':
    case 'deletemessage': {
      requireJoined(conn, action.room);
      const home = await requireHome(deps, action.room);
      if (!isHere(deps, home)) {
        // The home delivers to its region, the streams to the others; the caller's copy is its reply.
        const text = action.action === 'editmessage' ? { text: action.message } : {};
        const change = await atHome(deps, home, { op: 'change', room: action.room, caller: user(caller), target: action.seq, ...text });
        return reply(deps, caller.connectionId, { type: 'change', ...change, reqId: action.reqId });
      }
      const changed =
        action.action === 'editmessage'
          ? await editMessage(deps, action.room, caller, action.seq, action.message)
          : await deleteMessage(deps, action.room, caller, action.seq);
      return fanOutChange(deps, caller, changed, action.reqId);
    }
    case 'typing': {
      requireJoined(conn, action.room);
      // However many sockets or frames, a user's typing reaches a room once per window.
      const until = await typingDue(deps, caller.userId, action.room);
      if (until === undefined) return;
      deps.cache?.noteTyping(caller.userId, action.room, until);
      // Best effort, so any recipients list this container holds will do.
      const event = { type: 'typing', room: action.room, user: { id: caller.userId, name: caller.userName } } as const;
      const held = deps.cache?.anyRecipients(action.room);
      if (held) await deliver(deps, held.filter((r) => r.connectionId !== caller.connectionId), event, action.room);
      else await broadcast(deps, action.room, event, caller.connectionId);
      return;
    }
  }
}

/**
 * A send in two rounds of DynamoDB calls before the fan-out:
 * 1. admission (the user's rate bucket and the connection row) beside the
 *    seq reservation, when this container last saw the connection in the
 *    named room; otherwise the reservation waits for admission;
 * 2. the idempotency key and the message, beside the recipients Query, which
 *    is skipped when this container holds the room's recipients at the
 *    membership version the reservation returned.
 * A speculative seq whose send is then refused is marked skipped before the
 * refusal is told, and membership is checked before any error is reported,
 * so a stranger learns nothing about a room.
 */
async function send(deps: ChatDeps, caller: Caller, action: ActionOf<'sendmessage'>): Promise<void> {
  // Stamped before the seq is reserved, so a message's ts is never earlier than anything its seq depends on.
  const ts = deps.now();
  const named = action.room;
  // In a single-region deployment every room is home (no read); elsewhere the home is remembered per room.
  const namedHome = named !== undefined && deps.forward ? await homeOf(deps, named) : deps.homeRegion;
  const early =
    named !== undefined && namedHome !== undefined && isHere(deps, namedHome) && deps.cache?.roomsOf(caller.connectionId)?.has(named)
      ? settled(reserveSeq(deps, named))
      : undefined;
  let room: string;
  try {
    const conn = await session(deps, caller);
    room = named ?? conn.currentRoom;
    requireJoined(conn, room);
  } catch (err) {
    const spent = await early;
    if (spent?.ok) await skip(deps, named as string, spent.value.seq);
    throw err;
  }
  const home = early ? deps.homeRegion : await requireHome(deps, room);
  if (!isHere(deps, home)) return sendAway(deps, caller, action, room, home, ts);
  const reservation = early ? unwrap(await early) : await reserveSeq(deps, room);
  const recipients = recipientsAt(deps, room, reservation);
  recipients.catch(() => undefined);
  const { message, duplicate } = await storeMessage(deps, room, reservation.seq, caller, action.message, action.clientMsgId, ts, action.retry !== true);
  // A client that names its message (clientMsgId) builds it from the ack, so its own socket gets no
  // copy; a tutorial client (wscat) does get its message back, as the tutorial's chat sends it.
  const self = action.clientMsgId ? caller.connectionId : undefined;
  const ack = reply(deps, caller.connectionId, ackOf(action, room, message, duplicate));
  const typingWasOpen = deps.cache ? deps.cache.typingOpen(caller.userId, room, deps.now()) : true;
  // A duplicate was broadcast the first time; the client catches up through history if it missed it.
  // Every post settles before the invocation returns: Lambda freezes whatever is still in flight.
  const [acked, fanout, typed] = await Promise.allSettled([
    ack,
    duplicate
      ? undefined
      : recipients.then((to) => deliver(deps, self ? to.filter((r) => r.connectionId !== self) : to, { type: 'message', ...message }, room)),
    duplicate || !typingWasOpen ? undefined : typingDone(deps, caller.userId, room),
  ]);
  const log = deps.log ?? consoleLog;
  if (typed.status === 'rejected') log.warn('typing not reset', { room }, typed.reason);
  // One line per message: debug, so production logs carry it only when asked for.
  if (fanout.status === 'fulfilled' && fanout.value) log.debug('fanout', { room, seq: message.seq, ...fanout.value });
  if (fanout.status === 'rejected') throw fanout.reason;
  if (acked.status === 'rejected') throw acked.reason;
}

/**
 * A send to a room homed in another region: admitted here, sequenced and
 * stored there (which also delivers it to that region's sockets), answered
 * here with the home's seq. This region's sockets, and every other
 * region's, get it from their replica's stream (functions/fanout).
 */
async function sendAway(deps: ChatDeps, caller: Caller, action: ActionOf<'sendmessage'>, room: string, home: string, ts: number): Promise<void> {
  const { message, duplicate } = await atHome(deps, home, {
    op: 'send',
    room,
    sender: user(caller),
    text: action.message,
    ...(action.clientMsgId ? { clientMsgId: action.clientMsgId } : {}),
    ts,
    firstAttempt: action.retry !== true,
    // As at home: a client that names its message builds it from the ack, so its socket gets no copy.
    ...(action.clientMsgId ? { ackedConnection: caller.connectionId } : {}),
  });
  await reply(deps, caller.connectionId, ackOf(action, room, message, duplicate));
}

/** The sender's ack, the same whichever region stored the message. */
function ackOf(action: ActionOf<'sendmessage'>, room: string, message: { seq: number; id: string; ts: number }, duplicate: boolean): ServerEvent {
  return { type: 'ack', room, seq: message.seq, id: message.id, ts: message.ts, clientMsgId: action.clientMsgId, reqId: action.reqId, duplicate };
}

const user = (caller: Caller) => ({ userId: caller.userId, userName: caller.userName });

/** A change goes to the room as a message does; the caller's copy is its reply. */
async function fanOutChange(deps: ChatDeps, caller: Caller, { change, reservation }: Changed, reqId: string | undefined): Promise<void> {
  const [replied, fanout] = await Promise.allSettled([
    reply(deps, caller.connectionId, { type: 'change', ...change, reqId }),
    recipientsAt(deps, change.room, reservation).then((to) =>
      deliver(deps, to.filter((r) => r.connectionId !== caller.connectionId), { type: 'change', ...change }, change.room),
    ),
  ]);
  if (fanout.status === 'rejected') throw fanout.reason;
  if (replied.status === 'rejected') throw replied.reason;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settled = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
function unwrap<T>(s: Settled<T>): T {
  if (!s.ok) throw s.error;
  return s.value;
}
