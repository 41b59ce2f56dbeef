/**
 * Membership belongs to the person, not to a socket: a member row per (room,
 * user) for every room but the lobby (which everyone is in), with the user's
 * read position. From it follow the actions that are about a person's rooms
 * (join, leave, create, sync, read, opendm) and the events that keep all of
 * their sockets in step (roomadded, roomremoved, read), plus presence.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { fitBudget, jsonBytes } from './budget';
import type { Caller } from './chat';
import {
  addToRoom,
  addToRooms,
  membersOf,
  removeFromRoom,
  removeOthersFromRoom,
  roomConnections,
  userSockets,
  type ChatUser,
  type ConnectionRow,
  type RoomConnection,
} from './connections';
import { batchGetAll } from './db';
import type { ChatDeps } from './deps';
import { deliver, forEachLimit, reply } from './fanout';
import { keys, MAX_SEQ, seqKey } from './keys';
import { consoleLog } from './log';
import { DEFAULT_ROOM, LIMITS, ProtocolError, type MyRoom, type ServerEvent } from './protocol';
import {
  byGsi1,
  capReached,
  counterRegion,
  createDmRoom,
  createRoom,
  dmRoomId,
  getRoom,
  memberWrites,
  roomCounter,
  summary,
  toRoom,
  type CreateRoomInput,
  type Room,
} from './rooms';
import { resolveNames } from './users';
import { atHome, type RoomRef } from './home';
import { primaryOf } from './regions';

/** Rooms worked on at once when one action touches many (unread counts, presence after a sync). */
const ROOMS_CONCURRENCY = 8;
/**
 * Items one unread Query may read: twice the cap, so that own messages,
 * skips and changes just past the marker rarely hide others' messages. Past
 * them the count is a lower bound; a room that busy shows the cap anyway.
 */
const UNREAD_SCAN = 2 * LIMITS.unreadMax;

const warn = (deps: ChatDeps, message: string, fields: Record<string, unknown>, err: unknown) => (deps.log ?? consoleLog).warn(message, fields, err);
const byRef = (who: ChatUser) => ({ id: who.userId, name: who.userName });
const myRoom = (room: Room, lastRead: number, unread: number): MyRoom => ({ ...summary(room), lastRead, unread });

// ------------------------------------------------------------------ presence

/**
 * Tells a room someone came or went. Silent when another tab of the same user
 * is there, since nothing others can see has changed, and in rooms with more
 * than `presenceMax` people (people, not sockets: one user's tabs count once).
 */
export async function announce(
  deps: ChatDeps,
  room: string,
  event: 'join' | 'leave',
  who: ChatUser,
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
 * A new public room, told to the lobby as presence is: only while the lobby
 * has at most `presenceMax` people. Above that, a post to every socket per
 * room made would cost more than it is worth (the directory lists the room);
 * the bench saw 1,000 posts a room slow everyone's sends.
 */
export async function announceRoom(deps: ChatDeps, room: Room): Promise<void> {
  const conns = await roomConnections(deps, DEFAULT_ROOM, { maxPeople: LIMITS.presenceMax });
  if (membersOf(conns).length > LIMITS.presenceMax) return;
  await deliver(deps, conns, { type: 'roomcreated', room: summary(room) }, DEFAULT_ROOM);
}

/**
 * An event about the person rather than a room, to all their sockets (but
 * `except`). Best effort: the action it follows has already been answered,
 * and whatever it announces, the next sync tells again.
 */
async function tellUser(deps: ChatDeps, who: ChatUser, event: ServerEvent, except?: string, known?: RoomConnection[]): Promise<void> {
  try {
    const sockets = known ?? (await userSockets(deps, who));
    await deliver(deps, except === undefined ? sockets : sockets.filter((s) => s.connectionId !== except), event);
  } catch (err) {
    warn(deps, 'user event not delivered', { event: event.type }, err);
  }
}

// ------------------------------------------------------------------ member rows
// Written only in the room's home region (core/home.ts): callers go through atHome.

/** Just the user, not the socket: what a request to another region carries. */
const user = (u: ChatUser): ChatUser => ({ userId: u.userId, userName: u.userName });
const who = user;
const ref = (room: RoomRef): RoomRef => ({ id: room.id, name: room.name, private: room.private });
/**
 * The lobby's first read position, kept by the primary. Only a nicety (a
 * missing one reads as caught up, and the next sync or join writes it), so
 * with the primary unreachable, sync and joins in other regions go on.
 */
async function lobbyMarker(deps: ChatDeps, caller: ChatUser, lastRead: number): Promise<void> {
  try {
    await atHome(deps, primaryOf(deps), { op: 'lobbyMarker', who: user(caller), lastRead });
  } catch (err) {
    if (!(err instanceof ProtocolError && err.code === 'home_unavailable')) throw err;
    warn(deps, 'lobby read position not kept: the primary is unreachable', { room: DEFAULT_ROOM }, err);
  }
}

interface Member {
  /** Absent on rows written before read positions were kept: those read as caught up. */
  lastRead?: number;
}

async function readMember(deps: ChatDeps, room: string, userId: string): Promise<Member | undefined> {
  const res = await deps.db.send(
    new GetCommand({ TableName: deps.tables.chat, Key: keys.member(room, userId), ConsistentRead: true, ProjectionExpression: 'pk, lastRead' }),
  );
  return res.Item ? toMember(res.Item) : undefined;
}
const toMember = (item: Record<string, unknown>): Member => (typeof item.lastRead === 'number' ? { lastRead: item.lastRead } : {});

/** Makes `who` a member of an existing room, starting read up to `lastRead`; false when they already were. */
export async function addMember(deps: ChatDeps, room: RoomRef, who: ChatUser, lastRead: number): Promise<boolean> {
  try {
    await deps.db.send(new TransactWriteCommand({ TransactItems: memberWrites(deps, room, who, lastRead) }));
    return true;
  } catch (err) {
    const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
    if (reasons[0]?.Code === 'ConditionalCheckFailed') return false;
    if (reasons[1]?.Code === 'ConditionalCheckFailed') throw capReached(who, room.private);
    throw err;
  }
}

/** Ends a membership and gives its place under the cap back; false when there was none. */
export async function endMember(deps: ChatDeps, room: RoomRef, userId: string): Promise<boolean> {
  try {
    await deps.db.send(
      new TransactWriteCommand({
        TransactItems: [
          { Delete: { TableName: deps.tables.chat, Key: keys.member(room.id, userId), ConditionExpression: 'attribute_exists(pk)' } },
          {
            Update: {
              TableName: deps.tables.chat,
              Key: keys.privateCount(userId, counterRegion(deps)),
              UpdateExpression: 'ADD #n :minus',
              ExpressionAttributeNames: { '#n': roomCounter(room.private).attribute },
              ExpressionAttributeValues: { ':minus': -1 },
            },
          },
        ],
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
    throw err;
  }
}

/**
 * The lobby has no membership, only a read position: its row is written the
 * first time it is needed, caught up, and carries no gsi1 (it is no "room of yours").
 */
export async function ensureLobbyMarker(deps: ChatDeps, who: ChatUser, lastRead: number): Promise<void> {
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: { ...keys.member(DEFAULT_ROOM, who.userId), userId: who.userId, userName: who.userName, roomId: DEFAULT_ROOM, lastRead, joinedAt: deps.now() },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
  }
}

/**
 * A seq at most this recent may be reserved and not yet written: a count that
 * finds one waits this long and counts again, at most UNREAD_RECOUNTS times.
 */
const UNREAD_SETTLE_MS = 40;
const UNREAD_RECOUNTS = 2;
const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Messages in (lastRead, lastSeq] from others that are real messages: not
 * skips, not change items, not deleted. One Query counting on the server
 * (Select COUNT reads, but returns no items), capped at LIMITS.unreadMax.
 * `lastSeq` comes from the counter, so a send may have reserved a seq in the
 * range and not stored it yet; the client takes the count as covering every
 * seq up to lastSeq, so such a message would never be counted. A range with
 * a seq that holds no item is counted again after a moment (a dead writer's
 * gap stays, and is rightly not a message).
 */
export async function unreadCount(deps: ChatDeps, room: string, userId: string, lastRead: number, lastSeq: number): Promise<number> {
  const high = Math.min(lastSeq, MAX_SEQ);
  if (lastRead >= high) return 0;
  for (let attempt = 0; ; attempt++) {
    const res = await deps.db.send(
      new QueryCommand({
        TableName: deps.tables.chat,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
        FilterExpression: 'attribute_not_exists(skipped) AND attribute_not_exists(kind) AND attribute_not_exists(deleted) AND senderId <> :me',
        ExpressionAttributeValues: { ':pk': keys.roomPk(room), ':low': seqKey(lastRead + 1), ':high': seqKey(high), ':me': userId },
        Select: 'COUNT',
        Limit: UNREAD_SCAN,
        // A write that has just landed must be seen.
        ConsistentRead: true,
      }),
    );
    const scanned = res.ScannedCount ?? 0;
    const complete = scanned >= Math.min(high - lastRead, UNREAD_SCAN);
    if (complete || attempt >= UNREAD_RECOUNTS) return Math.min(res.Count ?? 0, LIMITS.unreadMax);
    await pause(UNREAD_SETTLE_MS);
  }
}

// ------------------------------------------------------------------ join, leave, create

/**
 * Seats this socket in a room the caller may be in, answers `joined` with
 * their read position, and tells the room. `lastRead` undefined means caught
 * up as of the seating (the lobby's first time, or a row from before read
 * positions). Returns the room as the caller now has it.
 */
async function enter(deps: ChatDeps, caller: Caller, conn: ConnectionRow, room: Room, lastRead: number | undefined, reqId?: string): Promise<MyRoom> {
  // Fresher than any read before: every seq past it reaches this socket live.
  room.lastSeq = await addToRoom(deps, conn, room.id);
  const marker = lastRead ?? room.lastSeq;
  if (lastRead === undefined && room.id === DEFAULT_ROOM) await lobbyMarker(deps, caller, marker);
  const [unread, conns] = await Promise.all([unreadCount(deps, room.id, caller.userId, marker, room.lastSeq), roomConnections(deps, room.id)]);
  const members = membersOf(conns);
  // Names are at most 32 ASCII characters and ids 128, so presenceMax members stay far below the reply budget.
  await reply(deps, caller.connectionId, {
    type: 'joined',
    room: summary(room),
    members: members.slice(0, LIMITS.presenceMax),
    memberCount: members.length,
    lastRead: marker,
    unread,
    reqId,
  });
  await announce(deps, room.id, 'join', caller, { self: caller.connectionId, conns });
  return myRoom(room, marker, unread);
}

/**
 * joinroom. A public room makes you a member if you were not (counted toward
 * LIMITS.maxPublicRooms), read up to its last seq, and tells your other
 * sockets; a private room needs a membership already, and a stranger is told
 * it does not exist. The lobby is everyone's already.
 */
export async function join(deps: ChatDeps, caller: Caller, conn: ConnectionRow, roomId: string, reqId?: string): Promise<void> {
  const [room, member] = await Promise.all([getRoom(deps, roomId), readMember(deps, roomId, caller.userId)]);
  if (!room || (room.private && !member)) throw new ProtocolError('room_not_found', `No room "${roomId}", or you are not a member`);
  // Joining is not "500 unread": a new member starts read up to the room as it is.
  const joinedAt = room.lastSeq;
  const added = room.id !== DEFAULT_ROOM && !member && (await atHome(deps, room.homeRegion, { op: 'addMember', room: ref(room), who: who(caller), lastRead: joinedAt }));
  // No row read but none added either: another socket of theirs made it a moment ago, at about the same seq.
  const lastRead = member ? member.lastRead : room.id === DEFAULT_ROOM ? undefined : joinedAt;
  const mine = await enter(deps, caller, conn, room, lastRead, reqId);
  if (added) await tellUser(deps, caller, { type: 'roomadded', room: mine }, caller.connectionId);
}

/**
 * leaveroom. Outside the lobby it ends the membership and unseats every
 * socket of the caller's from the room; the lobby (everyone's) only unseats
 * this socket, as the tutorial's chat does. Leaving a room you are neither a
 * member of nor seated in tells nobody anything.
 */
export async function leave(deps: ChatDeps, caller: Caller, conn: ConnectionRow, roomId: string, reqId?: string): Promise<void> {
  const seated = conn.rooms.has(roomId);
  if (roomId === DEFAULT_ROOM) {
    if (!seated) throw new ProtocolError('not_joined', `You are not in "${roomId}"`);
    await removeFromRoom(deps, conn, roomId);
    await reply(deps, caller.connectionId, { type: 'left', room: roomId, reqId });
    await announce(deps, roomId, 'leave', caller);
    return;
  }
  const room = await getRoom(deps, roomId);
  const ended = room ? await atHome(deps, room.homeRegion, { op: 'endMember', room: ref(room), who: who(caller) }) : false;
  if (!ended && !seated) throw new ProtocolError('not_joined', `You are not in "${roomId}"`);
  const others = (await userSockets(deps, caller)).filter((s) => s.connectionId !== caller.connectionId);
  if (seated) await removeFromRoom(deps, conn, roomId);
  const unseated = await removeOthersFromRoom(deps, others.map((s) => s.connectionId), roomId);
  await reply(deps, caller.connectionId, { type: 'left', room: roomId, reqId });
  await tellUser(deps, caller, { type: 'roomremoved', room: roomId }, undefined, others);
  if (seated || unseated > 0) await announce(deps, roomId, 'leave', caller);
}

/**
 * createroom: the room with its creator (and a private room's invitees) as
 * members, answered `joined`. A public room is news to everyone in the lobby
 * (`roomcreated`); a private one to each invitee (`roomadded`, by the
 * creator); either way the creator's other sockets follow it (`roomadded`).
 */
export async function createAndJoin(deps: ChatDeps, caller: Caller, conn: ConnectionRow, input: CreateRoomInput, reqId?: string): Promise<void> {
  const { invitees, ...room } = await createRoom(deps, caller, input);
  const mine = await enter(deps, caller, conn, room, 0, reqId);
  // A new room: invitees start at its beginning, with nothing (of others') unread yet.
  const theirs: MyRoom = { ...mine, lastRead: 0, unread: 0 };
  await Promise.all([
    tellUser(deps, caller, { type: 'roomadded', room: mine }, caller.connectionId),
    forEachLimit(invitees, ROOMS_CONCURRENCY, (who) => tellUser(deps, who, { type: 'roomadded', room: theirs, by: byRef(caller) })),
    room.private
      ? undefined
      : announceRoom(deps, room).catch((err: unknown) => warn(deps, 'roomcreated not delivered', { room: room.id }, err)),
  ]);
}

// ------------------------------------------------------------------ sync

/** A sync cursor is `m:<room id>`, resuming the caller's memberships after that id; `m:` starts them after the lobby. */
const SYNC_CURSOR = /^m:((?:[a-z0-9][a-z0-9_-]{0,31})?)$/;

/**
 * sync: one page of the caller's rooms (the lobby first, then their
 * memberships by room id: a gsi1 Query, one BatchGet), at most
 * LIMITS.roomsPageMax and within the reply budget. This socket is seated in
 * every room of the page it was not in yet, in bulk, before the reply, so
 * every seq past the `lastSeq` it answers reaches the socket live. Then the
 * rooms hear of the newcomer, best effort.
 */
export async function sync(deps: ChatDeps, caller: Caller, conn: ConnectionRow, cursor?: string, reqId?: string): Promise<void> {
  const at = cursor === undefined ? undefined : SYNC_CURSOR.exec(cursor);
  if (at === null) throw new ProtocolError('bad_request', 'cursor: not a cursor this server gave out; send back nextCursor as it came');
  const withLobby = at === undefined;
  const need = LIMITS.roomsPageMax - (withLobby ? 1 : 0);
  const rows = await byGsi1(deps, keys.userRoomsGsi(caller.userId), at?.[1] || undefined, need + 1);
  const more = rows.length > need;
  const ids = [...(withLobby ? [DEFAULT_ROOM] : []), ...rows.slice(0, need).map((r) => String(r.gsi1sk)).filter((id) => id !== DEFAULT_ROOM)];
  const items = await batchGetAll(deps.db, deps.tables.chat, ids.flatMap((id) => [keys.roomMeta(id), keys.member(id, caller.userId)]));
  const metas = new Map<string, Record<string, unknown>>();
  const members = new Map<string, Member>();
  for (const item of items) {
    const id = String(item.pk).slice(2);
    if (item.sk === 'META') metas.set(id, item);
    else members.set(id, toMember(item));
  }
  /** Each membership read, with the cursor that resumes after it; `room` is absent when the room or the row has gone (the index lags). */
  const read = ids.map((id) => {
    const meta = metas.get(id);
    const room = meta && (id === DEFAULT_ROOM || members.has(id)) ? toRoom(meta) : undefined;
    return { id, room, member: members.get(id), resume: `m:${id === DEFAULT_ROOM ? '' : id}` };
  });
  // Sized with the widest numbers the entry can carry, since they are known only once seated.
  const fitted = fitBudget(read, (r) => (r.room ? jsonBytes(myRoom({ ...r.room, lastSeq: MAX_SEQ }, MAX_SEQ, LIMITS.unreadMax)) : 0));
  const kept = fitted.kept.flatMap((r) => (r.room ? [{ ...r, room: r.room }] : []));
  const toSeat = kept.filter((r) => !conn.rooms.has(r.id)).map((r) => r.id);
  const seated = await addToRooms(deps, conn, toSeat);
  const rooms: MyRoom[] = new Array<MyRoom>(kept.length);
  await forEachLimit([...kept.entries()], ROOMS_CONCURRENCY, async ([i, { id, room, member }]) => {
    room.lastSeq = seated.get(id) ?? room.lastSeq;
    const lastRead = member?.lastRead ?? room.lastSeq;
    if (!member && id === DEFAULT_ROOM) await lobbyMarker(deps, caller, lastRead);
    rooms[i] = myRoom(room, lastRead, await unreadCount(deps, id, caller.userId, lastRead, room.lastSeq));
  });
  const last = fitted.kept[fitted.kept.length - 1];
  const nextCursor = (more || fitted.cut) && last ? last.resume : undefined;
  await reply(deps, caller.connectionId, { type: 'synced', rooms, ...(nextCursor ? { nextCursor } : {}), reqId });
  await forEachLimit(toSeat, ROOMS_CONCURRENCY, (room) =>
    announce(deps, room, 'join', caller, { self: caller.connectionId }).catch((err: unknown) => warn(deps, 'presence not announced', { room }, err)),
  );
}

// ------------------------------------------------------------------ read

/**
 * read: moves the caller's read position forward (never back) to `seq`, at
 * most the room's lastSeq. Only members keep one; in the lobby, anyone. The
 * answer is the stored position, whichever was higher, with the unread count
 * from it; the caller's other sockets hear of it when it moved.
 */
export async function markRead(deps: ChatDeps, caller: Caller, roomId: string, seq: number, reqId?: string): Promise<void> {
  const lobby = roomId === DEFAULT_ROOM;
  const [room, member] = await Promise.all([getRoom(deps, roomId, { consistent: true }), lobby ? undefined : readMember(deps, roomId, caller.userId)]);
  const notMember = () =>
    room?.private === false
      ? new ProtocolError('not_joined', `Join "${roomId}" to keep your place in it`)
      : new ProtocolError('room_not_found', `No room "${roomId}", or you are not a member`);
  if (!room || (!lobby && !member)) throw notMember();
  if (seq > room.lastSeq) throw new ProtocolError('bad_request', `seq: "${roomId}" has no seq past ${room.lastSeq}`);
  const stored = await atHome(deps, room.homeRegion, { op: 'moveMarker', room: roomId, who: who(caller), seq });
  if (!stored) throw notMember();
  const unread = await unreadCount(deps, roomId, caller.userId, stored.lastRead, room.lastSeq);
  await reply(deps, caller.connectionId, { type: 'read', room: roomId, seq: stored.lastRead, unread, lastSeq: room.lastSeq, reqId });
  if (stored.moved) await tellUser(deps, caller, { type: 'read', room: roomId, seq: stored.lastRead, unread, lastSeq: room.lastSeq }, caller.connectionId);
}

/**
 * One conditional write: the marker moves only forward, and outside the
 * lobby only on an existing member row. Returns the marker now stored, or
 * undefined when there is no membership (it ended meanwhile).
 */
export async function moveMarker(deps: ChatDeps, who: ChatUser, room: string, seq: number): Promise<{ lastRead: number; moved: boolean } | undefined> {
  const lobby = room === DEFAULT_ROOM;
  try {
    await deps.db.send(
      new UpdateCommand({
        TableName: deps.tables.chat,
        Key: keys.member(room, who.userId),
        ...(lobby
          ? {
              UpdateExpression: 'SET lastRead = :seq, userId = :uid, userName = :name, roomId = :room, joinedAt = if_not_exists(joinedAt, :now)',
              ConditionExpression: 'attribute_not_exists(lastRead) OR lastRead < :seq',
              ExpressionAttributeValues: { ':seq': seq, ':uid': who.userId, ':name': who.userName, ':room': room, ':now': deps.now() },
            }
          : {
              UpdateExpression: 'SET lastRead = :seq',
              ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lastRead) OR lastRead < :seq)',
              ExpressionAttributeValues: { ':seq': seq },
            }),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { lastRead: seq, moved: true };
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    // The refused write's item, as DynamoDB holds it (not unmarshalled): none means no membership.
    const old = err.Item as Record<string, { N?: string }> | undefined;
    return old ? { lastRead: Number(old.lastRead?.N ?? seq), moved: false } : undefined;
  }
}

// ------------------------------------------------------------------ direct messages

const isDmOf = (room: Room, a: string, b: string) =>
  room.private && room.dm?.length === 2 && room.dm.some((u) => u.id === a) && room.dm.some((u) => u.id === b);

/**
 * opendm: the room of the caller and the person with this chat name, made on
 * first use (dmRoomId is stable per pair), private, with both as members;
 * either who left is made a member again (counted toward maxPrivateRooms).
 * Seats this socket and answers `joined`; whoever became a member now hears
 * of it on their (other) sockets.
 */
export async function openDm(deps: ChatDeps, caller: Caller, conn: ConnectionRow, name: string, reqId?: string): Promise<void> {
  const [peer] = await resolveNames({ db: deps.db, table: deps.tables.users }, [name]);
  if (!peer) throw new ProtocolError('unknown_user', `Unknown user name(s): ${name}`);
  if (peer.userId === caller.userId) throw new ProtocolError('bad_request', 'user: a direct message needs someone other than you');
  const id = dmRoomId(caller.userId, peer.userId);
  let room = await getRoom(deps, id, { consistent: true });
  /** Read positions of whoever became a member just now. */
  const added = new Map<string, number>();
  if (!room) {
    room = await createDmRoom(deps, caller, peer);
    if (room) for (const who of [caller, peer]) added.set(who.userId, 0);
    // The other person opened it first, a moment ago.
    else room = await getRoom(deps, id, { consistent: true });
  }
  if (!room) throw new ProtocolError('unavailable', 'Please retry', { retryAfterMs: 100 });
  if (!isDmOf(room, caller.userId, peer.userId)) throw new ProtocolError('room_exists', 'That direct-message room is taken by another room');
  let callerMember: Member | undefined = added.size > 0 ? { lastRead: 0 } : undefined;
  if (added.size === 0) {
    const [mine, theirs] = await Promise.all([readMember(deps, id, caller.userId), readMember(deps, id, peer.userId)]);
    callerMember = mine;
    for (const [who, member] of [[caller, mine], [peer, theirs]] as const) {
      if (!member && (await atHome(deps, room.homeRegion, { op: 'addMember', room: ref(room), who: user(who), lastRead: room.lastSeq }))) {
        added.set(who.userId, room.lastSeq);
      }
    }
  }
  const callerRead = added.get(caller.userId) ?? callerMember?.lastRead;
  const mine = await enter(deps, caller, conn, room, callerRead, reqId);
  const peerRead = added.get(peer.userId);
  await Promise.all([
    added.has(caller.userId) ? tellUser(deps, caller, { type: 'roomadded', room: mine }, caller.connectionId) : undefined,
    peerRead === undefined
      ? undefined
      : unreadCount(deps, id, peer.userId, peerRead, mine.lastSeq).then((unread) =>
          tellUser(deps, peer, { type: 'roomadded', room: { ...mine, lastRead: peerRead, unread }, by: byRef(caller) }),
        ),
  ]);
}
