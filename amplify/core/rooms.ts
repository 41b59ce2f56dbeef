import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { batchGetAll, queryAll } from './db';
import type { Identity } from './connections';
import type { ChatDeps } from './deps';
import { keys } from './keys';
import { DEFAULT_ROOM, ProtocolError, type RoomSummary } from './protocol';

export interface Room extends RoomSummary {
  homeRegion: string;
}

function toRoom(item: Record<string, unknown>): Room {
  return {
    id: String(item.roomId),
    name: String(item.name),
    private: item.private === true,
    createdBy: String(item.createdBy),
    lastSeq: Number(item.lastSeq ?? 0),
    homeRegion: String(item.homeRegion),
  };
}

export const summary = ({ homeRegion: _, ...room }: Room): RoomSummary => room;

function roomItem(deps: ChatDeps, id: string, name: string, isPrivate: boolean, createdBy: string) {
  return {
    ...keys.roomMeta(id),
    roomId: id,
    name,
    private: isPrivate,
    createdBy,
    createdAt: deps.now(),
    lastSeq: 0,
    homeRegion: deps.homeRegion,
    // Sparse index: only public rooms appear in the public listing.
    ...(isPrivate ? {} : { gsi1pk: keys.publicRoomsGsi, gsi1sk: id }),
  };
}

/** Creates the lobby if this deployment has none yet; cheap to repeat. */
export async function ensureRoom(deps: ChatDeps, id = DEFAULT_ROOM, name = 'Lobby'): Promise<void> {
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
}

async function getRoom(deps: ChatDeps, id: string): Promise<Room | undefined> {
  const res = await deps.db.send(new GetCommand({ TableName: deps.tables.chat, Key: keys.roomMeta(id) }));
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

/** Remembers which user id a name belongs to, so rooms can invite by name. The first claim wins. */
export async function claimUserName(deps: ChatDeps, who: Identity): Promise<boolean> {
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: { ...keys.userName(who.userName), userId: who.userId, userName: who.userName },
        ConditionExpression: 'attribute_not_exists(pk) OR userId = :id',
        ExpressionAttributeValues: { ':id': who.userId },
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

async function resolveUserNames(deps: ChatDeps, names: string[]): Promise<Identity[]> {
  const unique = [...new Map(names.map((n) => [n.toLowerCase(), n])).values()];
  if (unique.length === 0) return [];
  const items = await batchGetAll(deps.db, deps.tables.chat, unique.map((n) => keys.userName(n)));
  const found = new Map(items.map((item) => [String(item.pk), { userId: String(item.userId), userName: String(item.userName) }]));
  const missing = unique.filter((n) => !found.has(keys.userName(n).pk));
  if (missing.length) throw new ProtocolError('unknown_user', `Unknown user name(s): ${missing.join(', ')}`);
  return [...found.values()];
}

export interface CreateRoomInput {
  id: string;
  name?: string;
  private: boolean;
  invite: string[];
}

/** Creates a room; a private one gets member rows for its creator and invitees, in one transaction. */
export async function createRoom(deps: ChatDeps, creator: Identity, input: CreateRoomInput): Promise<Room> {
  const invitees = input.private ? await resolveUserNames(deps, input.invite) : [];
  const members = [creator, ...invitees.filter((i) => i.userId !== creator.userId)];
  const name = input.name ?? input.id;
  const meta = roomItem(deps, input.id, name, input.private, creator.userId);
  try {
    await deps.db.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: deps.tables.chat, Item: meta, ConditionExpression: 'attribute_not_exists(pk)' } },
          ...(input.private
            ? members.map((m) => ({
                Put: {
                  TableName: deps.tables.chat,
                  Item: {
                    ...keys.member(input.id, m.userId),
                    userId: m.userId,
                    userName: m.userName,
                    roomId: input.id,
                    roomName: name,
                    gsi1pk: keys.userRoomsGsi(m.userId),
                    gsi1sk: input.id,
                  },
                },
              }))
            : []),
        ],
      }),
    );
  } catch (err) {
    if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') {
      throw new ProtocolError('room_exists', `A room called "${input.id}" already exists`);
    }
    throw err;
  }
  return toRoom(meta);
}

const byGsi1 = (deps: ChatDeps, gsi1pk: string) =>
  queryAll(
    deps.db,
    {
      TableName: deps.tables.chat,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': gsi1pk },
    },
    1000,
  );

/** Public rooms plus the private rooms this user belongs to: two Queries and one BatchGet. */
export async function listRooms(deps: ChatDeps, userId: string): Promise<RoomSummary[]> {
  const [publicItems, memberships] = await Promise.all([byGsi1(deps, keys.publicRoomsGsi), byGsi1(deps, keys.userRoomsGsi(userId))]);
  const privateItems = await batchGetAll(
    deps.db,
    deps.tables.chat,
    memberships.map((m) => keys.roomMeta(String(m.roomId))),
  );
  const rooms = [...publicItems, ...privateItems].map(toRoom);
  return rooms.map(summary).sort((a, b) => (a.id === DEFAULT_ROOM ? -1 : b.id === DEFAULT_ROOM ? 1 : a.id.localeCompare(b.id)));
}
