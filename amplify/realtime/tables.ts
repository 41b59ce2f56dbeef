/**
 * Table shapes, written once and used by both the CDK construct (AWS) and the
 * local stack (DynamoDB Local), so the two cannot drift.
 */

export interface TableShape {
  /** Logical name; physical names are chosen by CloudFormation or the local stack. */
  id: 'connections' | 'chat' | 'users';
  partitionKey: string;
  sortKey: string;
  ttlAttribute: string;
  /**
   * KEYS_ONLY: the index only finds ids (reads then BatchGet the items), so a
   * write that changes an item's other attributes (a room's lastSeq on every
   * message) never also writes the index, which would bill a second unit.
   */
  globalSecondaryIndexes: { indexName: string; partitionKey: string; sortKey: string; projection: 'KEYS_ONLY' }[];
  /** Global-table ready: replicated across regions when Parley goes multi-region. */
  global: boolean;
}

/**
 * connections: regional by nature, because a connection id is only valid on
 * the API endpoint of the region that issued it.
 *   pk C#<connectionId>  sk C             the connection (user, joined rooms, rate bucket)
 *   pk R#<room>          sk C#<connId>    one row per connection in a room: the fan-out Query
 *   pk U#<userId>        sk U             the user: open connection slots (the per-user cap, and how events
 *                                         about the user reach all their sockets) and rate buckets
 *   pk U#<userId>        sk T#<room>      when the user's typing last reached the room (coalescing)
 */
export const CONNECTIONS_TABLE: TableShape = {
  id: 'connections',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  globalSecondaryIndexes: [],
  global: false,
};

/**
 * chat: rooms, members, messages, idempotency keys and the user-name registry.
 *   pk R#<room>   sk META                 room metadata and lastSeq (the sequencer); a DM's `dm` pair
 *   pk R#<room>   sk M#<userId>           a membership, any room but the lobby (gsi1: U#<userId> / <room>):
 *                                         userId, userName, roomId, lastRead (read position), joinedAt;
 *                                         in the lobby (everyone's) only the read position, without gsi1
 *   pk R#<room>   sk S#<seq, 12 digits>   a message, ordered by seq; or a skip (skipped), or an edit/delete of the seq `target` (kind)
 *   pk R#<room>   sk D#<userId>#<cmid>    idempotency key -> seq, expires after a day
 *   pk U#<userId> sk P                    how many private and public rooms the user is in
 *                                         (privateRooms, publicRooms: the caps)
 * Public rooms carry gsi1: PUBLIC / <room>, so listing them is one Query; a user's rooms are one Query of U#<userId>.
 */
export const CHAT_TABLE: TableShape = {
  id: 'chat',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  globalSecondaryIndexes: [{ indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', projection: 'KEYS_ONLY' }],
  global: true,
};

/**
 * users: the chat-name registry, written once per account by the Pre sign-up
 * trigger. It lives in the auth stack beside the user pool and its trigger
 * (the realtime stack only reads it), so no cross-stack cycle forms.
 *   pk N#<name fold> sk N                 the claim: user id and the name as typed
 */
export const USERS_TABLE: TableShape = {
  id: 'users',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  globalSecondaryIndexes: [],
  global: true,
};

/** The tables of the realtime stack; the users table is the auth stack's. */
export const TABLES = [CONNECTIONS_TABLE, CHAT_TABLE] as const;
export const ALL_TABLES = [CONNECTIONS_TABLE, CHAT_TABLE, USERS_TABLE] as const;
