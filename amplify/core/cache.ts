/**
 * What one Lambda container remembers between invocations, to skip reads the
 * table would answer the same way. Nothing here is trusted for a decision
 * that the table does not confirm in the same step: a wrong entry costs a
 * read or a post, never a guarantee.
 */
import type { RoomConnection } from './connections';

/** A room's recipients as read at one membership version (META `mv`, bumped by every join and leave). */
interface Recipients {
  version: number;
  conns: RoomConnection[];
}

/** Maps iterate in insertion order, so re-inserting keeps the least recently used first, to evict. */
export function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

export class ContainerCache {
  private readonly recipients = new Map<string, Recipients>();
  private readonly rooms = new Map<string, ReadonlySet<string>>();
  private readonly typed = new Map<string, number>();
  private cachedConns = 0;

  constructor(
    private readonly limits = { rooms: 1_000, conns: 100_000, connections: 10_000, typing: 10_000 },
  ) {}

  /**
   * The recipients read at exactly `version`, if this container holds them.
   * A join bumps the version after writing its row and before it answers, so
   * a seq reserved at version v has every row of a join answered before it.
   */
  recipientsAt(room: string, version: number): RoomConnection[] | undefined {
    const hit = this.recipients.get(room);
    return hit?.version === version ? hit.conns : undefined;
  }

  /** Any recipients list held for the room, for best-effort events (typing) that need no version. */
  anyRecipients(room: string): RoomConnection[] | undefined {
    return this.recipients.get(room)?.conns;
  }

  storeRecipients(room: string, version: number, conns: RoomConnection[]): void {
    const held = this.recipients.get(room);
    if (held && held.version > version) return;
    this.cachedConns += conns.length - (held?.conns.length ?? 0);
    remember(this.recipients, room, { version, conns }, this.limits.rooms);
    // Evict the least recently stored rooms until the total fits.
    for (const [key, value] of this.recipients) {
      if (this.cachedConns <= this.limits.conns || key === room) break;
      this.recipients.delete(key);
      this.cachedConns -= value.conns.length;
    }
  }

  /** A recipient API Gateway called gone: no later post from this container tries it again. */
  forgetRecipient(room: string, connectionId: string): void {
    const held = this.recipients.get(room);
    if (!held) return;
    const conns = held.conns.filter((c) => c.connectionId !== connectionId);
    this.cachedConns -= held.conns.length - conns.length;
    held.conns = conns;
  }

  /** The rooms a connection was in when this container last read or changed its row. */
  roomsOf(connectionId: string): ReadonlySet<string> | undefined {
    return this.rooms.get(connectionId);
  }

  noteRooms(connectionId: string, rooms: ReadonlySet<string>): void {
    remember(this.rooms, connectionId, new Set(rooms), this.limits.connections);
  }

  forgetConnection(connectionId: string): void {
    this.rooms.delete(connectionId);
  }

  noteTyping(userId: string, room: string, until: number): void {
    remember(this.typed, `${userId}\n${room}`, until, this.limits.typing);
  }

  /** True if this container let a typing event through for this user and room whose window is still open. */
  typingOpen(userId: string, room: string, now: number): boolean {
    const until = this.typed.get(`${userId}\n${room}`);
    if (until === undefined) return false;
    this.typed.delete(`${userId}\n${room}`);
    return until > now;
  }
}
