import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchDeleteAll, batchGetAll, batchWriteAll, queryAll } from './db';
import type { ChatDeps } from './deps';
import { ConnectionGone } from './errors';
import { forEachLimit } from './fanout';
import { keys } from './keys';
import { getRoom, updateMeta } from './rooms';
import { homeOf, isHere } from './regions';
import { DEFAULT_ROOM, LIMITS, ProtocolError, type UserRef } from './protocol';

/**
 * A person in the chat: the pool's user id and the chat name claimed at
 * sign-up. Not the network identity API Gateway hands a request (local/gateway.ts).
 */
export interface ChatUser {
  userId: string;
  userName: string;
}

/** Who opened a socket, as the authorizer vouched: the user plus when the token expires (epoch seconds). */
export interface Authenticated extends ChatUser {
  tokenExp?: number;
}

/** One socket's row in the connections table, as read back (not the gateway's live socket). */
export interface ConnectionRow extends ChatUser {
  connectionId: string;
  rooms: Set<string>;
  currentRoom: string;
  connectedAt: number;
  expiresAt: number;
  /** Epoch seconds; after it the socket's actions are refused and the socket closed. */
  tokenExp?: number;
}

/** A little past API Gateway's 2-hour cap, so TTL only sweeps rows whose $disconnect was lost. */
const CONNECTION_TTL_S = LIMITS.maxConnectionMs / 1000 + 10 * 60;

/**
 * API Gateway answers 410 to a post for a connection whose $connect has not
 * finished, so a 410 proves nothing about a connection younger than the
 * $connect integration can take (29 s). Only older ones are pruned.
 */
export const CONNECT_WINDOW_MS = 30_000;

export const expiresAtFrom = (nowMs: number) => Math.floor(nowMs / 1000) + CONNECTION_TTL_S;
const alive = (expiresAt: unknown, nowMs: number) => typeof expiresAt === 'number' && expiresAt * 1000 > nowMs;
const stringSet = (value: unknown): string[] => (value instanceof Set ? [...value].map(String) : []);

export function toConnectionRow(item: Record<string, unknown> | undefined, nowMs: number): ConnectionRow | undefined {
  if (!item || !alive(item.expiresAt, nowMs)) return undefined;
  return {
    connectionId: String(item.connectionId),
    userId: String(item.userId),
    userName: String(item.userName),
    rooms: new Set(stringSet(item.rooms)),
    currentRoom: typeof item.currentRoom === 'string' ? item.currentRoom : DEFAULT_ROOM,
    connectedAt: Number(item.connectedAt),
    expiresAt: Number(item.expiresAt),
    ...(typeof item.tokenExp === 'number' ? { tokenExp: item.tokenExp } : {}),
  };
}

const cancelledAt = (err: unknown, index: number): boolean =>
  err instanceof TransactionCanceledException && err.CancellationReasons?.[index]?.Code === 'ConditionalCheckFailed';

export interface Registered extends ConnectionRow {
  /** How many other sockets this user holds slots for, just after this one took its own. */
  otherSockets: number;
}

/**
 * A slot in the user row's `conns` set: the connection id and when it
 * connected, so a slot whose row is missing can be told from one whose row is
 * still being written (see releaseDeadSlots). Slots written before the stamp
 * are bare ids.
 */
const slotOf = (connectionId: string, connectedAt: number) => `${connectionId}@${connectedAt}`;
function parseSlot(slot: string): { connectionId: string; connectedAt?: number } {
  const at = slot.lastIndexOf('@');
  return at < 0 ? { connectionId: slot } : { connectionId: slot.slice(0, at), connectedAt: Number(slot.slice(at + 1)) };
}

/**
 * Stores the connection, seats it in the lobby (as the tutorial expects) and
 * takes one of the user's connection slots: three plain writes side by side,
 * since none needs another's condition (a transaction would also be billed
 * double). If the slot is refused (the user is at the cap) the two rows are
 * deleted again; if a row write fails, the connection is removed. A writer
 * that dies halfway leaves rows that TTL and the fan-out's pruning remove, or
 * a stamped slot without a row, which the next connection at the cap frees
 * once it is older than the $connect window. Then the lobby's membership
 * version moves, so every send sequenced after this returns reaches the socket live.
 */
export async function registerConnection(deps: ChatDeps, connectionId: string, who: Authenticated, room = DEFAULT_ROOM): Promise<Registered> {
  const now = deps.now();
  const expiresAt = expiresAtFrom(now);
  const identity = { userId: who.userId, userName: who.userName };
  const rows = [
    {
      ...keys.connection(connectionId),
      connectionId,
      ...identity,
      rooms: new Set([room]),
      currentRoom: room,
      connectedAt: now,
      expiresAt,
      ...(who.tokenExp !== undefined ? { tokenExp: who.tokenExp } : {}),
    },
    presenceItem(room, connectionId, identity, now, expiresAt),
  ];
  /** The user's slot count after taking one, or undefined at the cap. */
  const takeSlot = async (): Promise<number | undefined> => {
    try {
      const res = await deps.db.send(
        new UpdateCommand({
          TableName: deps.tables.connections,
          Key: keys.user(who.userId),
          UpdateExpression: 'ADD conns :slot SET expiresAt = :exp',
          ConditionExpression: 'attribute_not_exists(conns) OR size(conns) < :cap',
          ExpressionAttributeValues: { ':slot': new Set([slotOf(connectionId, now)]), ':exp': expiresAt, ':cap': LIMITS.maxConnectionsPerUser },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return stringSet(res.Attributes?.conns).length;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  };
  const [slot, ...written] = await Promise.allSettled([
    takeSlot(),
    ...rows.map((Item) => deps.db.send(new PutCommand({ TableName: deps.tables.connections, Item }))),
  ]);
  const unwritten = written.find((w) => w.status === 'rejected');
  if (unwritten) {
    await removeConnection(deps, connectionId).catch(() => undefined);
    await dropRoomRow(deps, room, connectionId).catch(() => undefined);
    throw unwritten.reason;
  }
  const unseat = async (err: unknown): Promise<never> => {
    await removeConnection(deps, connectionId).catch(() => undefined);
    throw err;
  };
  if (slot.status === 'rejected') return unseat(slot.reason);
  let taken = slot.value;
  if (taken === undefined && (await releaseDeadSlots(deps, who.userId)) > 0) taken = await takeSlot().catch(unseat);
  if (taken === undefined) return unseat(new ProtocolError('too_many_connections', `At most ${LIMITS.maxConnectionsPerUser} open connections per user`));
  await bumpMembers(deps, room);
  return { ...(toConnectionRow(rows[0], now) as ConnectionRow), otherSockets: taken - 1 };
}

/**
 * Frees the slots of connections whose rows are gone or expired; returns how
 * many. A stamped slot younger than the $connect window is spared: its row
 * may still be on its way.
 */
async function releaseDeadSlots(deps: ChatDeps, userId: string): Promise<number> {
  const user = await deps.db.send(new GetCommand({ TableName: deps.tables.connections, Key: keys.user(userId), ConsistentRead: true }));
  const slots = stringSet(user.Item?.conns).map((slot) => ({ slot, ...parseSlot(slot) }));
  const rows = await batchGetAll(deps.db, deps.tables.connections, slots.map((s) => keys.connection(s.connectionId)));
  const now = deps.now();
  const live = new Set(rows.filter((r) => alive(r.expiresAt, now)).map((r) => String(r.connectionId)));
  const dead = slots.filter((s) => !live.has(s.connectionId) && (s.connectedAt === undefined || s.connectedAt < now - CONNECT_WINDOW_MS));
  if (dead.length > 0) await releaseSlots(deps, userId, dead.map((s) => s.slot));
  return dead.length;
}

/**
 * The user's open sockets, from the slots of their user row (registerConnection),
 * to send them events that are about the user rather than a room (roomadded,
 * read, roomremoved). A slot may outlive its socket; deliver() answers a 410 as for
 * any recipient, which also frees the slot. A bare slot (no stamp) counts as old.
 */
export async function userSockets(deps: ChatDeps, who: ChatUser): Promise<RoomConnection[]> {
  const user = await deps.db.send(
    new GetCommand({ TableName: deps.tables.connections, Key: keys.user(who.userId), ConsistentRead: true, ProjectionExpression: 'conns' }),
  );
  return stringSet(user.Item?.conns).map((slot) => {
    const { connectionId, connectedAt } = parseSlot(slot);
    return { connectionId, userId: who.userId, userName: who.userName, connectedAt: connectedAt ?? 0 };
  });
}

function releaseSlots(deps: ChatDeps, userId: string, slots: string[]) {
  return deps.db.send(
    new UpdateCommand({
      TableName: deps.tables.connections,
      Key: keys.user(userId),
      UpdateExpression: 'DELETE conns :slots',
      ExpressionAttributeValues: { ':slots': new Set(slots) },
    }),
  );
}

function presenceItem(room: string, connectionId: string, who: ChatUser, connectedAt: number, expiresAt: number) {
  return { ...keys.roomConnection(room, connectionId), connectionId, userId: who.userId, userName: who.userName, connectedAt, expiresAt };
}

export async function getConnection(deps: ChatDeps, connectionId: string): Promise<ConnectionRow | undefined> {
  const res = await deps.db.send(
    new GetCommand({ TableName: deps.tables.connections, Key: keys.connection(connectionId), ConsistentRead: true }),
  );
  return toConnectionRow(res.Item, deps.now());
}

/**
 * The connection row and its room row change in one transaction that requires
 * the connection to exist, so a join racing its own $disconnect either lands
 * before it (and $disconnect, which deletes by the rooms it removed, takes the
 * room row too) or fails as ConnectionGone and writes nothing.
 */
/** Returns the room's last seq as of the join, for the `joined` reply. */
export async function addToRoom(deps: ChatDeps, conn: ConnectionRow, room: string): Promise<number> {
  await membershipChange(deps, conn, [
    {
      Update: {
        TableName: deps.tables.connections,
        Key: keys.connection(conn.connectionId),
        UpdateExpression: 'ADD rooms :r SET currentRoom = :room',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':r': new Set([room]), ':room': room },
      },
    },
    { Put: { TableName: deps.tables.connections, Item: presenceItem(room, conn.connectionId, conn, conn.connectedAt, conn.expiresAt) } },
  ]);
  conn.rooms.add(room);
  conn.currentRoom = room;
  deps.cache?.noteRooms(conn.connectionId, conn.rooms);
  return bumpMembers(deps, room);
}

export async function removeFromRoom(deps: ChatDeps, conn: ConnectionRow, room: string): Promise<void> {
  const next = conn.currentRoom === room ? DEFAULT_ROOM : conn.currentRoom;
  await membershipChange(deps, conn, [
    {
      Update: {
        TableName: deps.tables.connections,
        Key: keys.connection(conn.connectionId),
        UpdateExpression: 'DELETE rooms :r SET currentRoom = :next',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':r': new Set([room]), ':next': next },
      },
    },
    { Delete: { TableName: deps.tables.connections, Key: keys.roomConnection(room, conn.connectionId) } },
  ]);
  conn.rooms.delete(room);
  conn.currentRoom = next;
  deps.cache?.noteRooms(conn.connectionId, conn.rooms);
  await bumpMembers(deps, room);
}

/**
 * Seats a connection in many rooms at once (sync), as addToRoom does for one:
 * room rows, then the connection row's `rooms`, then each room's membership
 * version. A transaction would hold 100 items at most, so the room rows go
 * first as batch writes, and the connection row's update, which requires the
 * row, decides: if $disconnect won, the rows are deleted again and the action
 * ends as ConnectionGone; if it lands first, $disconnect deletes every room it
 * lists. (A writer that dies between the two leaves rows that TTL sweeps.)
 * Returns each room's last seq as of its bump.
 */
export async function addToRooms(deps: ChatDeps, conn: ConnectionRow, rooms: readonly string[]): Promise<Map<string, number>> {
  const lastSeqs = new Map<string, number>();
  if (rooms.length === 0) return lastSeqs;
  const rows = rooms.map((room) => presenceItem(room, conn.connectionId, conn, conn.connectedAt, conn.expiresAt));
  await batchWriteAll(deps.db, deps.tables.connections, rows.map((Item) => ({ PutRequest: { Item } })), { concurrency: 4 });
  try {
    await deps.db.send(
      new UpdateCommand({
        TableName: deps.tables.connections,
        Key: keys.connection(conn.connectionId),
        UpdateExpression: 'ADD rooms :r',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':r': new Set(rooms) },
      }),
    );
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    await batchDeleteAll(deps.db, deps.tables.connections, rooms.map((room) => keys.roomConnection(room, conn.connectionId)));
    throw new ConnectionGone(conn.connectionId);
  }
  for (const room of rooms) conn.rooms.add(room);
  deps.cache?.noteRooms(conn.connectionId, conn.rooms);
  await forEachLimit(rooms, BUMP_CONCURRENCY, async (room) => {
    lastSeqs.set(room, await bumpMembers(deps, room));
  });
  return lastSeqs;
}

/** Membership-version bumps in flight at once when one action seats or unseats many rooms. */
const BUMP_CONCURRENCY = 16;

/**
 * Unseats other connections (another socket of the same user) from a room,
 * each in the transaction removeFromRoom uses, conditional on the connection
 * still being there and seated in the room; a connection that is not is
 * skipped. Its `currentRoom` is left as it is: that socket's next send without
 * a room then answers not_joined, which is the truth. Returns how many were unseated.
 */
export async function removeOthersFromRoom(deps: ChatDeps, connectionIds: readonly string[], room: string): Promise<number> {
  let unseated = 0;
  await forEachLimit(connectionIds, BUMP_CONCURRENCY, async (connectionId) => {
    try {
      await deps.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: deps.tables.connections,
                Key: keys.connection(connectionId),
                UpdateExpression: 'DELETE rooms :r',
                ConditionExpression: 'attribute_exists(pk) AND contains(rooms, :room)',
                ExpressionAttributeValues: { ':r': new Set([room]), ':room': room },
              },
            },
            { Delete: { TableName: deps.tables.connections, Key: keys.roomConnection(room, connectionId) } },
          ],
        }),
      );
      unseated++;
      // This container's note of that socket's rooms is only a hint; dropping it is always safe.
      deps.cache?.forgetConnection(connectionId);
    } catch (err) {
      if (!cancelledAt(err, 0)) throw err;
    }
  });
  if (unseated > 0) await bumpMembers(deps, room);
  return unseated;
}

/**
 * Bumps the room's membership version (META `mv`), after the change it
 * stands for is written and before anyone is told of it. A send reads the
 * version atomically with its seq, so a container's recipients list read at
 * that version holds every join answered before the seq (see cache.ts).
 * Disconnects do not bump: a recipient that has gone only costs a 410.
 * Returns the room's last seq as of the bump.
 */
export async function bumpMembers(deps: ChatDeps, room: string): Promise<number> {
  // The version guards the home's own recipients cache; another region's sockets hear the room from its
  // stream, which reads its recipients afresh, and a write to META from here could undo the home's lastSeq.
  const home = await homeOf(deps, room);
  if (home !== undefined && !isHere(deps, home)) return (await getRoom(deps, room, { consistent: true }))?.lastSeq ?? 0;
  const meta = await updateMeta(deps, room, { UpdateExpression: 'ADD mv :one', ExpressionAttributeValues: { ':one': 1 }, ReturnValues: 'ALL_NEW' });
  // No room, so no seq can be reserved in it either: there is nothing to version.
  return Number(meta?.lastSeq ?? 0);
}

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

async function membershipChange(deps: ChatDeps, conn: ConnectionRow, items: TransactItems): Promise<void> {
  try {
    await deps.db.send(new TransactWriteCommand({ TransactItems: items }));
  } catch (err) {
    if (cancelledAt(err, 0)) throw new ConnectionGone(conn.connectionId);
    throw err;
  }
}

/**
 * Deletes a connection and every room row it had, and frees its slot. The
 * connection row goes first, in one conditional delete that returns it, so
 * the rooms deleted are exactly those it was in at that instant: a join that
 * lands later fails on the missing row instead of leaving a room row behind.
 * `onlyIfOlderThan` (epoch ms) spares a connection still inside its $connect window.
 * Returns the rooms it was in (for presence), or none if it was already gone or spared.
 */
export async function removeConnection(
  deps: ChatDeps,
  connectionId: string,
  opts: { onlyIfOlderThan?: number } = {},
): Promise<{ who?: ChatUser; rooms: string[] }> {
  let old: Record<string, unknown> | undefined;
  try {
    const res = await deps.db.send(
      new DeleteCommand({
        TableName: deps.tables.connections,
        Key: keys.connection(connectionId),
        // A row without connectedAt predates it: old enough.
        ConditionExpression:
          opts.onlyIfOlderThan === undefined
            ? 'attribute_exists(pk)'
            : 'attribute_exists(pk) AND (attribute_not_exists(connectedAt) OR connectedAt < :cutoff)',
        ...(opts.onlyIfOlderThan === undefined ? {} : { ExpressionAttributeValues: { ':cutoff': opts.onlyIfOlderThan } }),
        ReturnValues: 'ALL_OLD',
      }),
    );
    old = res.Attributes;
  } catch (err) {
    if ((err as { name?: string }).name === 'ConditionalCheckFailedException') return { rooms: [] };
    throw err;
  }
  if (!old) return { rooms: [] };
  const rooms = stringSet(old.rooms);
  const who = { userId: String(old.userId), userName: String(old.userName) };
  await Promise.all([
    batchDeleteAll(deps.db, deps.tables.connections, rooms.map((r) => keys.roomConnection(r, connectionId))),
    // Both spellings: a slot taken before slots were stamped is the bare id.
    releaseSlots(deps, who.userId, [connectionId, ...(typeof old.connectedAt === 'number' ? [slotOf(connectionId, old.connectedAt)] : [])]),
  ]);
  return { who, rooms };
}

export interface RoomConnection extends ChatUser {
  connectionId: string;
  /** Epoch ms; a 410 for a connection younger than CONNECT_WINDOW_MS is not proof it is gone. */
  connectedAt: number;
}

/**
 * The fan-out read: one Query on the room's partition, connection rows only,
 * never a Scan. Strongly consistent, so a message sequenced after a join's
 * room row was written always finds that row. `maxPeople` stops the read once
 * that many different users plus one were seen: enough to know a room is crowded.
 */
export async function roomConnections(deps: ChatDeps, room: string, opts: { maxPeople?: number } = {}): Promise<RoomConnection[]> {
  const now = deps.now();
  const people = new Set<string>();
  const { maxPeople } = opts;
  const items = await queryAll(
    deps.db,
    {
      TableName: deps.tables.connections,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :c)',
      ExpressionAttributeValues: { ':pk': keys.roomPk(room), ':c': keys.roomConnectionsPrefix },
      ProjectionExpression: 'connectionId, userId, userName, connectedAt, expiresAt',
      ConsistentRead: true,
      ...(maxPeople !== undefined ? { Limit: maxPeople + 1 } : {}),
    },
    Infinity,
    maxPeople === undefined
      ? undefined
      : (page) => {
          for (const item of page) people.add(String(item.userId));
          return people.size > maxPeople;
        },
  );
  return items
    .filter((item) => alive(item.expiresAt, now))
    .map((item) => ({
      connectionId: String(item.connectionId),
      userId: String(item.userId),
      userName: String(item.userName),
      // Rows written before connectedAt was stored count as old enough to prune.
      connectedAt: typeof item.connectedAt === 'number' ? item.connectedAt : 0,
    }));
}

/** Members online, one entry per user however many tabs they have open. */
export function membersOf(conns: readonly ChatUser[]): UserRef[] {
  const byId = new Map<string, UserRef>();
  for (const c of conns) if (!byId.has(c.userId)) byId.set(c.userId, { id: c.userId, name: c.userName });
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Deletes one room row of a connection that is gone, whether or not its connection row still exists. */
export async function dropRoomRow(deps: ChatDeps, room: string, connectionId: string): Promise<void> {
  await deps.db.send(new DeleteCommand({ TableName: deps.tables.connections, Key: keys.roomConnection(room, connectionId) }));
}
