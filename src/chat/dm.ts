import type { UserRef } from '../../amplify/core/protocol';
import { roomTitle, type RoomView } from './store';

/**
 * The other person in a direct-message room, or undefined for any other room.
 * The store sets `dm`; the summary's pair covers a room it has not filled in yet.
 */
export const dmPeer = (room: RoomView | undefined, meId: string): UserRef | undefined =>
  room?.dm ?? room?.summary?.dm?.find((u) => u.id !== meId);

/** How a room is named in headings and labels: a DM by the other person's name, any other room as roomTitle does. */
export const displayTitle = (room: RoomView | undefined, id: string, meId: string): string => dmPeer(room, meId)?.name ?? roomTitle(room, id);
