import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { queryAll } from './db';
import type { ChatDeps } from './deps';
import { keys } from './keys';
import { DEFAULT_ROOM, LIMITS, type UserRef } from './protocol';

export interface Identity {
  userId: string;
  userName: string;
}

export interface Connection extends Identity {
  connectionId: string;
  rooms: Set<string>;
  currentRoom: string;
  connectedAt: number;
  expiresAt: number;
}

/** A little past API Gateway's 2-hour cap, so TTL only sweeps rows whose $disconnect was lost. */
const CONNECTION_TTL_S = LIMITS.maxConnectionMs / 1000 + 10 * 60;

export const expiresAtFrom = (nowMs: number) => Math.floor(nowMs / 1000) + CONNECTION_TTL_S;
const alive = (expiresAt: unknown, nowMs: number) => typeof expiresAt === 'number' && expiresAt * 1000 > nowMs;

export function toConnection(item: Record<string, unknown> | undefined, nowMs: number): Connection | undefined {
  if (!item || !alive(item.expiresAt, nowMs)) return undefined;
  const rooms = item.rooms instanceof Set ? new Set([...item.rooms].map(String)) : new Set<string>();
  return {
    connectionId: String(item.connectionId),
    userId: String(item.userId),
    userName: String(item.userName),
    rooms,
    currentRoom: typeof item.currentRoom === 'string' ? item.currentRoom : DEFAULT_ROOM,
    connectedAt: Number(item.connectedAt),
    expiresAt: Number(item.expiresAt),
  };
}

/** Stores the connection and puts it in the lobby, atomically, as the tutorial expects. */
export async function registerConnection(deps: ChatDeps, connectionId: string, who: Identity, room = DEFAULT_ROOM): Promise<Connection> {
  const now = deps.now();
  const expiresAt = expiresAtFrom(now);
  await deps.db.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: {
            TableName: deps.tables.connections,
            Item: {
              ...keys.connection(connectionId),
              connectionId,
              ...who,
              rooms: new Set([room]),
              currentRoom: room,
              connectedAt: now,
              expiresAt,
            },
          },
        },
        { Put: { TableName: deps.tables.connections, Item: presenceItem(room, connectionId, who, expiresAt) } },
      ],
    }),
  );
  return { connectionId, ...who, rooms: new Set([room]), currentRoom: room, connectedAt: now, expiresAt };
}

function presenceItem(room: string, connectionId: string, who: Identity, expiresAt: number) {
  return { ...keys.roomConnection(room, connectionId), connectionId, userId: who.userId, userName: who.userName, expiresAt };
}

export async function getConnection(deps: ChatDeps, connectionId: string): Promise<Connection | undefined> {
  const res = await deps.db.send(new GetCommand({ TableName: deps.tables.connections, Key: keys.connection(connectionId) }));
  return toConnection(res.Item, deps.now());
}

export async function addToRoom(deps: ChatDeps, conn: Connection, room: string): Promise<void> {
  await Promise.all([
    deps.db.send(
      new UpdateCommand({
        TableName: deps.tables.connections,
        Key: keys.connection(conn.connectionId),
        UpdateExpression: 'ADD rooms :r SET currentRoom = :room',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':r': new Set([room]), ':room': room },
      }),
    ),
    deps.db.send(
      new PutCommand({ TableName: deps.tables.connections, Item: presenceItem(room, conn.connectionId, conn, conn.expiresAt) }),
    ),
  ]);
  conn.rooms.add(room);
  conn.currentRoom = room;
}

export async function removeFromRoom(deps: ChatDeps, conn: Connection, room: string): Promise<void> {
  const next = conn.currentRoom === room ? DEFAULT_ROOM : conn.currentRoom;
  await Promise.all([
    deps.db.send(
      new UpdateCommand({
        TableName: deps.tables.connections,
        Key: keys.connection(conn.connectionId),
        UpdateExpression: 'DELETE rooms :r SET currentRoom = :next',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':r': new Set([room]), ':next': next },
      }),
    ),
    deps.db.send(new DeleteCommand({ TableName: deps.tables.connections, Key: keys.roomConnection(room, conn.connectionId) })),
  ]);
  conn.rooms.delete(room);
  conn.currentRoom = next;
}

/**
 * Deletes a connection and every room row it had. Returns the rooms it was in
 * (for presence), or an empty list if it was already gone.
 */
export async function removeConnection(deps: ChatDeps, connectionId: string): Promise<{ who?: Identity; rooms: string[] }> {
  const res = await deps.db.send(new GetCommand({ TableName: deps.tables.connections, Key: keys.connection(connectionId) }));
  if (!res.Item) return { rooms: [] };
  const rooms = res.Item.rooms instanceof Set ? [...res.Item.rooms].map(String) : [];
  const deletes = [keys.connection(connectionId), ...rooms.map((r) => keys.roomConnection(r, connectionId))];
  for (let i = 0; i < deletes.length; i += 25) {
    let pending = deletes.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
    // BatchWrite may hand back unprocessed items under load; retry them briefly.
    for (let attempt = 0; pending.length > 0 && attempt < 5; attempt++) {
      const out = await deps.db.send(new BatchWriteCommand({ RequestItems: { [deps.tables.connections]: pending } }));
      pending = (out.UnprocessedItems?.[deps.tables.connections] ?? []) as typeof pending;
      if (pending.length) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
  }
  return { who: { userId: String(res.Item.userId), userName: String(res.Item.userName) }, rooms };
}

export interface RoomConnection extends Identity {
  connectionId: string;
}

/** The fan-out read: one Query on the room's partition, connection rows only, never a Scan. */
export async function roomConnections(deps: ChatDeps, room: string, max = Infinity): Promise<RoomConnection[]> {
  const now = deps.now();
  const items = await queryAll(
    deps.db,
    {
      TableName: deps.tables.connections,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :c)',
      ExpressionAttributeValues: { ':pk': keys.roomPk(room), ':c': keys.roomConnectionsPrefix },
      ProjectionExpression: 'connectionId, userId, userName, expiresAt',
      ...(Number.isFinite(max) ? { Limit: max } : {}),
    },
    max,
  );
  return items
    .filter((item) => alive(item.expiresAt, now))
    .map((item) => ({ connectionId: String(item.connectionId), userId: String(item.userId), userName: String(item.userName) }));
}

/** Members online, one entry per user however many tabs they have open. */
export function membersOf(conns: RoomConnection[]): UserRef[] {
  const byId = new Map<string, UserRef>();
  for (const c of conns) if (!byId.has(c.userId)) byId.set(c.userId, { id: c.userId, name: c.userName });
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}
