/** Key layout of the tables; see amplify/realtime/tables.ts for the picture. */
import { nameKey } from './names';

export const SEQ_WIDTH = 12;
/**
 * The largest seq a message key can hold with string order equal to numeric
 * order. A room would need 1,000 messages a second for 31 years to reach it;
 * a query past it (the protocol accepts seqs up to 2^53-1) finds nothing.
 */
export const MAX_SEQ = 10 ** SEQ_WIDTH - 1;

export const keys = {
  connection: (connectionId: string) => ({ pk: `C#${connectionId}`, sk: 'C' }),
  roomConnection: (room: string, connectionId: string) => ({ pk: `R#${room}`, sk: `C#${connectionId}` }),
  roomConnectionsPrefix: 'C#',
  roomMeta: (room: string) => ({ pk: `R#${room}`, sk: 'META' }),
  member: (room: string, userId: string) => ({ pk: `R#${room}`, sk: `M#${userId}` }),
  message: (room: string, seq: number) => ({ pk: `R#${room}`, sk: seqKey(seq) }),
  dedup: (room: string, userId: string, clientMsgId: string) => ({ pk: `R#${room}`, sk: `D#${userId}#${clientMsgId}` }),
  /** connections table: one row per user, shared by all their sockets (open ids, rate buckets). */
  user: (userId: string) => ({ pk: `U#${userId}`, sk: 'U' }),
  /** connections table: when this user last told this room they were typing. */
  typing: (userId: string, room: string) => ({ pk: `U#${userId}`, sk: `T#${room}` }),
  /** chat table: how many private (`privateRooms`) and public (`publicRooms`) rooms this user belongs to. */
  privateCount: (userId: string, region?: string) => ({ pk: `U#${userId}`, sk: region ? `P#${region}` : 'P' }),
  /** users table: a claimed chat name, keyed by its fold (see names.ts), so look-alikes collide. */
  userName: (name: string) => ({ pk: `N#${nameKey(name)}`, sk: 'N' }),
  roomPk: (room: string) => `R#${room}`,
  publicRoomsGsi: 'PUBLIC',
  userRoomsGsi: (userId: string) => `U#${userId}`,
} as const;

/** Zero-padded so that string order is numeric order. */
export function seqKey(seq: number): string {
  return `S#${String(seq).padStart(SEQ_WIDTH, '0')}`;
}
