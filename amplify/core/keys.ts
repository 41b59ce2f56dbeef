/** Key layout of both tables; see amplify/realtime/tables.ts for the picture. */

export const SEQ_WIDTH = 12;

export const keys = {
  connection: (connectionId: string) => ({ pk: `C#${connectionId}`, sk: 'C' }),
  roomConnection: (room: string, connectionId: string) => ({ pk: `R#${room}`, sk: `C#${connectionId}` }),
  roomConnectionsPrefix: 'C#',
  roomMeta: (room: string) => ({ pk: `R#${room}`, sk: 'META' }),
  member: (room: string, userId: string) => ({ pk: `R#${room}`, sk: `M#${userId}` }),
  message: (room: string, seq: number) => ({ pk: `R#${room}`, sk: seqKey(seq) }),
  dedup: (room: string, userId: string, clientMsgId: string) => ({ pk: `R#${room}`, sk: `D#${userId}#${clientMsgId}` }),
  /** User names are matched case-insensitively, as people type them. */
  userName: (name: string) => ({ pk: `U#${name.toLowerCase()}`, sk: 'U' }),
  roomPk: (room: string) => `R#${room}`,
  publicRoomsGsi: 'PUBLIC',
  userRoomsGsi: (userId: string) => `U#${userId}`,
} as const;

/** Zero-padded so that string order is numeric order. */
export function seqKey(seq: number): string {
  return `S#${String(seq).padStart(SEQ_WIDTH, '0')}`;
}
