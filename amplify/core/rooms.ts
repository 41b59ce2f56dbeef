import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHash, randomBytes } from 'node:crypto';
import { fitBudget, jsonBytes } from './budget';
import { batchGetAll, queryAll } from './db';
import type { ChatUser } from './connections';
import type { ChatDeps } from './deps';
import { keys } from './keys';
import { DEFAULT_ROOM, DEFAULT_ROOM_NAME, LIMITS, ProtocolError, type RoomSummary, type UserRef } from './protocol';
import { BUCKETS, consume } from './ratelimit';
import { resolveNames } from './users';
import { atPrimary } from './home';
import { inPrimary } from './regions';

export interface Room extends RoomSummary {
  homeRegion: string;
}

const isUserRef = (x: unknown): x is UserRef =>
  typeof x === 'object' && x !== null && typeof (x as UserRef).id === 'string' && typeof (x as UserRef).name === 'string';

export function toRoom(item: Record<string, unknown>): Room {
  const dm = Array.isArray(item.dm) && item.dm.every(isUserRef) ? item.dm.map((u) => ({ id: u.id, name: u.name })) : undefined;
  return {
    id: String(item.roomId),
    name: String(item.name),
    private: item.private === true,
    createdBy: String(item.createdBy),
    lastSeq: Number(item.lastSeq ?? 0),
    homeRegion: String(item.homeRegion),
    ...(dm ? { dm } : {}),
  };
}

export const summary = ({ homeRegion: _, ...room }: Room): RoomSummary => room;

/** A room's META item as first written. Homed where it is made; the lobby, made only in the primary, is the primary's. */
export type RoomItem = ReturnType<typeof roomItem>;

function roomItem(deps: ChatDeps, id: string, name: string, isPrivate: boolean, createdBy: string, dm?: UserRef[]) {
  return {
    ...keys.roomMeta(id),
    roomId: id,
    name,
    private: isPrivate,
    createdBy,
    createdAt: deps.now(),
    lastSeq: 0,
    homeRegion: deps.homeRegion,
    ...(dm ? { dm } : {}),
    // Sparse index: only public rooms appear in the public listing.
    ...(isPrivate ? {} : { gsi1pk: keys.publicRoomsGsi, gsi1sk: id }),
  };
}

/** Which attribute of the user's `U#<id>/P` item counts this kind of room, and its cap. */
export const roomCounter = (isPrivate: boolean) =>
  isPrivate ? { attribute: 'privateRooms', cap: LIMITS.maxPrivateRooms } : { attribute: 'publicRooms', cap: LIMITS.maxPublicRooms };

/**
 * The two writes that make someone a member of a room (never the lobby): the
 * member row, indexed under the user (gsi1 `U#<userId>` / room id) so their
 * rooms are one Query, and their count of rooms of that kind, which refuses
 * the pair once the cap is reached. Written together in one transaction.
 */
export function memberWrites(deps: ChatDeps, room: { id: string; name: string; private: boolean }, who: ChatUser, lastRead: number) {
  const counter = roomCounter(room.private);
  return [
    {
      Put: {
        TableName: deps.tables.chat,
        Item: {
          ...keys.member(room.id, who.userId),
          userId: who.userId,
          userName: who.userName,
          roomId: room.id,
          roomName: room.name,
          lastRead,
          joinedAt: deps.now(),
          gsi1pk: keys.userRoomsGsi(who.userId),
          gsi1sk: room.id,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    {
      Update: {
        TableName: deps.tables.chat,
        Key: keys.privateCount(who.userId, counterRegion(deps)),
        UpdateExpression: 'ADD #n :one',
        ConditionExpression: 'attribute_not_exists(#n) OR #n < :cap',
        ExpressionAttributeNames: { '#n': counter.attribute },
        ExpressionAttributeValues: { ':one': 1, ':cap': counter.cap },
      },
    },
  ];
}

/**
 * Whose count item a region writes: each region its own (the primary the
 * original `P`), so two regions never write one item; a cap holds per region.
 */
export const counterRegion = (deps: ChatDeps): string | undefined => (deps.primaryRegion === undefined || deps.primaryRegion === deps.homeRegion ? undefined : deps.homeRegion);

/** A refusal naming who is at their cap for this kind of room. */
export function capReached(who: ChatUser | undefined, isPrivate: boolean): ProtocolError {
  const { cap } = roomCounter(isPrivate);
  return new ProtocolError('limit_reached', `${who?.userName ?? 'Someone'} is already in ${cap} ${isPrivate ? 'private' : 'public'} rooms`);
}

/** Tables whose lobby this container has already seen: the lobby is never deleted, so once is enough. */
const lobbies = new Set<string>();

/** Creates the lobby if this deployment has none yet; one conditional write per container at most. */
export async function ensureRoom(deps: ChatDeps, id = DEFAULT_ROOM, name = DEFAULT_ROOM_NAME): Promise<void> {
  const memo = `${deps.tables.chat}/${id}`;
  // Only the primary makes the lobby; elsewhere it arrives with the replica.
  if (lobbies.has(memo) || !inPrimary(deps)) return;
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: roomItem(deps, id, name, false, 'system'),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
  }
  lobbies.add(memo);
}

/**
 * One update of an existing room's META item (never creating one): its new
 * attributes as `ReturnValues` asks, or undefined when there is no such room.
 */
export async function updateMeta(
  deps: ChatDeps,
  room: string,
  update: { UpdateExpression: string; ExpressionAttributeValues: Record<string, unknown>; ReturnValues: 'ALL_NEW' | 'UPDATED_NEW' },
): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await deps.db.send(
      new UpdateCommand({ TableName: deps.tables.chat, Key: keys.roomMeta(room), ConditionExpression: 'attribute_exists(pk)', ...update }),
    );
    return res.Attributes ?? {};
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return undefined;
    throw err;
  }
}

/** `consistent` where a seq the caller just saw live must not read as past the room's lastSeq. */
export async function getRoom(deps: ChatDeps, id: string, opts: { consistent?: boolean } = {}): Promise<Room | undefined> {
  const res = await deps.db.send(new GetCommand({ TableName: deps.tables.chat, Key: keys.roomMeta(id), ConsistentRead: opts.consistent }));
  return res.Item ? toRoom(res.Item) : undefined;
}

/**
 * The room if this user may see it. A private room a stranger asks about is
 * reported exactly like a room that does not exist, so names do not leak.
 */
export async function accessibleRoom(deps: ChatDeps, id: string, userId: string): Promise<Room> {
  const [room, member] = await Promise.all([
    getRoom(deps, id),
    deps.db.send(new GetCommand({ TableName: deps.tables.chat, Key: keys.member(id, userId), ProjectionExpression: 'pk' })),
  ]);
  if (!room || (room.private && !member.Item)) throw new ProtocolError('room_not_found', `No room "${id}", or you are not a member`);
  return room;
}

export interface CreateRoomInput {
  /** Public rooms only; a private room's id is made here. */
  id?: string;
  name?: string;
  private: boolean;
  invite: string[];
}

/** 120 random bits: an id nobody can guess, so trying ids tells a stranger nothing. */
export const privateRoomId = (): string => `p${randomBytes(15).toString('hex')}`;

/** What people may not name a public room: the shapes of server-made ids, so nobody can squat a DM's id (dmRoomId) before it exists. */
const SERVER_MADE_ID = /^(?:p[0-9a-f]{30}|d[0-9a-f]{31})$/;

/**
 * Creates a room. The creator becomes a member, counted toward their cap for
 * that kind of room. A private room gets a server-made id and, in the same
 * transaction, member rows for its invitees (by user id, resolved through the
 * name registry) plus each one's private-room count, which refuses the room
 * if anyone would pass LIMITS.maxPrivateRooms. Creating rooms and inviting
 * people draw on per-user rate buckets. Returns the room and the invitees.
 */
export async function createRoom(deps: ChatDeps, creator: ChatUser, input: CreateRoomInput): Promise<Room & { invitees: ChatUser[] }> {
  const id = input.private ? privateRoomId() : input.id;
  if (!id) throw new ProtocolError('bad_request', 'A public room needs an id');
  if (!input.private && SERVER_MADE_ID.test(id)) throw new ProtocolError('bad_request', 'room: that id is reserved for rooms the server names');
  const invitees = input.private ? (await resolveNames({ db: deps.db, table: deps.tables.users }, input.invite)).filter((i) => i.userId !== creator.userId) : [];
  await consume(deps, creator.userId, BUCKETS.rooms);
  if (invitees.length > 0) await consume(deps, creator.userId, BUCKETS.invites, invitees.length);
  const room = await claimRoom(deps, roomItem(deps, id, input.name ?? id, input.private, creator.userId), [creator, ...invitees]);
  return { ...room, invitees };
}

/**
 * A new room id is claimed in the primary, the one region that writes new
 * META items, so two regions can never both think they made the same room.
 * The room is homed here; nothing here may write it until the claim has
 * replicated back (a write before it could lose to the claim under
 * last-writer-wins), so this waits for the replica.
 */
async function claimRoom(deps: ChatDeps, meta: RoomItem, members: ChatUser[]): Promise<Room> {
  const room = await atPrimary(deps, { op: 'insertRoom', meta, members });
  if (!inPrimary(deps)) await awaitReplica(deps, room.id);
  return room;
}

/** How long a region waits for a claim made in the primary to reach its replica (typically about a second in AWS). */
const REPLICA_WAIT_MS = 10_000;
const REPLICA_POLL_MS = 50;

async function awaitReplica(deps: ChatDeps, id: string): Promise<void> {
  const deadline = deps.now() + REPLICA_WAIT_MS;
  while (!(await getRoom(deps, id, { consistent: true }))) {
    if (deps.now() > deadline) throw new ProtocolError('unavailable', 'The new room has not reached this region yet; please retry', { retryAfterMs: 1000 });
    await new Promise((r) => setTimeout(r, REPLICA_POLL_MS));
  }
}

/**
 * The room's META and every member's two writes (memberWrites) in one
 * transaction, so a room never exists without its members or past anyone's cap.
 */
export async function insertRoom(deps: ChatDeps, meta: RoomItem, members: ChatUser[]): Promise<Room> {
  const room = { id: meta.roomId, name: meta.name, private: meta.private };
  try {
    await deps.db.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: deps.tables.chat, Item: meta, ConditionExpression: 'attribute_not_exists(pk)' } },
          ...members.flatMap((m) => memberWrites(deps, room, m, 0)),
        ],
      }),
    );
  } catch (err) {
    const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
    if (reasons[0]?.Code === 'ConditionalCheckFailed') {
      // Only public ids are chosen by people; a random private id colliding is 2^-120 and reads as a retry.
      throw room.private
        ? new ProtocolError('unavailable', 'Please retry', { retryAfterMs: 100 })
        : new ProtocolError('room_exists', `A room called "${room.id}" already exists`);
    }
    const full = reasons.findIndex((r, i) => i > 0 && i % 2 === 0 && r.Code === 'ConditionalCheckFailed');
    if (full > 0) throw capReached(members[full / 2 - 1], room.private);
    throw err;
  }
  return toRoom(meta);
}

/** A direct-message room's id: stable per pair, whoever opens it (sha256 of both ids, sorted). */
export function dmRoomId(a: string, b: string): string {
  const [x, y] = [a, b].sort();
  return `d${createHash('sha256').update(`${x} ${y}`).digest('hex').slice(0, 31)}`;
}

/**
 * Creates the DM room of two people, both members: private, its `dm` the pair
 * sorted by id, its name both names in that order. Undefined when it already
 * exists (the other person opened it first). Only the opener's room bucket is drawn on.
 */
export async function createDmRoom(deps: ChatDeps, opener: ChatUser, peer: ChatUser): Promise<Room | undefined> {
  const pair = [opener, peer].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const dm = pair.map((u) => ({ id: u.userId, name: u.userName }));
  const id = dmRoomId(opener.userId, peer.userId);
  await consume(deps, opener.userId, BUCKETS.rooms);
  try {
    return await claimRoom(deps, roomItem(deps, id, dm.map((u) => u.name).join(', '), true, opener.userId, dm), pair);
  } catch (err) {
    // `unavailable` is insertRoom's word for "a private room with this id exists": here, the same pair's.
    if (err instanceof ProtocolError && err.code === 'unavailable') return undefined;
    throw err;
  }
}

/** Up to `max` rows of one gsi1 partition, ascending by gsi1sk, starting after `after` when given. */
export const byGsi1 = (deps: ChatDeps, gsi1pk: string, after: string | undefined, max: number) =>
  queryAll(
    deps.db,
    {
      TableName: deps.tables.chat,
      IndexName: 'gsi1',
      KeyConditionExpression: after === undefined ? 'gsi1pk = :pk' : 'gsi1pk = :pk AND gsi1sk > :after',
      ExpressionAttributeValues: { ':pk': gsi1pk, ...(after === undefined ? {} : { ':after': after }) },
      Limit: max,
    },
    max,
  ).then((items) => items.slice(0, max));

export interface RoomsPage {
  rooms: RoomSummary[];
  /** Where the next page starts; absent on the last page. */
  nextCursor?: string;
}

/**
 * A rooms cursor is `<group>:<room id>`, resuming after that id: `m` for the
 * caller's private rooms, `p` for public rooms; an empty id starts the group.
 * It only ever positions a Query of the caller's own memberships or of the
 * public index, so a forged one can show nothing its holder could not list.
 */
const ROOMS_CURSOR = /^([mp]):((?:[a-z0-9][a-z0-9_-]{0,31})?)$/;
function decodeRoomsCursor(cursor: string): { group: 'm' | 'p'; after?: string } {
  const m = ROOMS_CURSOR.exec(cursor);
  if (!m) throw new ProtocolError('bad_request', 'cursor: not a cursor this server gave out; send back nextCursor as it came');
  return { group: m[1] as 'm' | 'p', ...(m[2] ? { after: m[2] } : {}) };
}

/**
 * One page of the rooms this user may see: the lobby first, then the user's
 * private rooms, then the other public rooms, each group in id order. A page
 * holds at most LIMITS.roomsPageMax rooms and stops before the encoded reply
 * would pass LIMITS.replyBudgetBytes; `nextCursor` continues it. Queries on
 * gsi1 and one BatchGet, never a Scan.
 */
export async function listRooms(deps: ChatDeps, userId: string, cursor?: string): Promise<RoomsPage> {
  const at = cursor === undefined ? undefined : decodeRoomsCursor(cursor);
  const max = LIMITS.roomsPageMax;
  /** Each row read, with the cursor that resumes after it; `room` is absent for a membership whose room is gone. */
  const read: { room?: RoomSummary; resume: string }[] = [];
  let more = false;
  if (!at) {
    const lobby = await getRoom(deps, DEFAULT_ROOM);
    read.push({ ...(lobby ? { room: summary(lobby) } : {}), resume: 'm:' });
  }
  if (!at || at.group === 'm') {
    const need = max - read.length;
    const memberships = await byGsi1(deps, keys.userRoomsGsi(userId), at?.after, need + 1);
    more = memberships.length > need;
    const page = memberships.slice(0, need).map((m) => String(m.gsi1sk));
    const metas = await batchGetAll(deps.db, deps.tables.chat, page.map((id) => keys.roomMeta(id)));
    const byId = new Map(metas.map((item) => [String(item.roomId), toRoom(item)]));
    for (const id of page) {
      const room = byId.get(id);
      // Only private rooms here (public memberships are listed with the public rooms), so a room is never listed in both groups.
      read.push({ ...(room?.private ? { room: summary(room) } : {}), resume: `m:${id}` });
    }
  }
  if (!more) {
    const need = max - read.length;
    // One more than needed to know whether there are more, and one for the lobby, already listed first.
    const items = await byGsi1(deps, keys.publicRoomsGsi, at?.group === 'p' ? at.after : undefined, need + 2);
    const others = items.map((item) => String(item.gsi1sk)).filter((id) => id !== DEFAULT_ROOM);
    more = others.length > need;
    // The index holds keys only (tables.ts), so the rooms themselves come from one BatchGet.
    const page = others.slice(0, need);
    const metas = await batchGetAll(deps.db, deps.tables.chat, page.map((id) => keys.roomMeta(id)));
    const byId = new Map(metas.map((item) => [String(item.roomId), toRoom(item)]));
    for (const id of page) {
      const room = byId.get(id);
      read.push({ ...(room && !room.private ? { room: summary(room) } : {}), resume: `p:${id}` });
    }
  }
  const fitted = fitBudget(read, (r) => (r.room ? jsonBytes(r.room) : 0));
  const rooms = fitted.kept.flatMap((r) => (r.room ? [r.room] : []));
  const last = fitted.kept[fitted.kept.length - 1];
  return more || fitted.cut ? { rooms, ...(last ? { nextCursor: last.resume } : {}) } : { rooms };
}
