/**
 * Cross-region delivery: messages and changes another region's home wrote
 * arrive in this region's replica, and its stream brings them here, to be
 * delivered to this region's sockets in each room. The home delivers to its
 * own region directly (core/home.ts, core/chat.ts), so only items whose
 * `origin` is another region come through here.
 */
import { roomConnections } from './connections';
import type { ChatDeps } from './deps';
import { deliver, forEachLimit } from './fanout';
import { consoleLog } from './log';
import { isChange, toChange, toMessage } from './messages';
import type { ServerEvent } from './protocol';

export interface ReplicatedRecord {
  /** The stream record's sequence number: what a batch item failure names. */
  id: string;
  item: Record<string, unknown>;
}

/** Rooms delivered at once; within one room, events go in seq order. */
const ROOMS_CONCURRENCY = 8;

function eventOf(item: Record<string, unknown>): ServerEvent | undefined {
  if (item.skipped === true || typeof item.sk !== 'string' || !item.sk.startsWith('S#')) return undefined;
  return isChange(item) ? { type: 'change', ...toChange(item) } : { type: 'message', ...toMessage(item) };
}

/**
 * Delivers each record's event to the room's sockets in this region, one
 * recipients Query per room per batch. Returns the ids of records not
 * delivered (a failed Query or post), for the event source to retry; a
 * recipient that has gone (410) is not a failure.
 */
export async function deliverReplicated(deps: ChatDeps, records: readonly ReplicatedRecord[]): Promise<string[]> {
  const byRoom = new Map<string, { id: string; seq: number; event: ServerEvent; except?: string }[]>();
  for (const { id, item } of records) {
    // The filter already keeps this region's own writes out; a record that slips through would be a duplicate.
    if (item.origin === deps.homeRegion) continue;
    const event = eventOf(item);
    if (!event) continue;
    const room = String(item.roomId);
    const list = byRoom.get(room) ?? [];
    list.push({ id, seq: Number(item.seq), event, ...(typeof item.ackedConnection === 'string' ? { except: item.ackedConnection } : {}) });
    byRoom.set(room, list);
  }
  const failed: string[] = [];
  await forEachLimit([...byRoom.entries()], ROOMS_CONCURRENCY, async ([room, events]) => {
    events.sort((a, b) => a.seq - b.seq);
    try {
      const conns = await roomConnections(deps, room);
      for (const e of events) await deliver(deps, e.except ? conns.filter((c) => c.connectionId !== e.except) : conns, e.event, room);
    } catch (err) {
      (deps.log ?? consoleLog).warn('replicated delivery failed', { room }, err);
      failed.push(...events.map((e) => e.id));
    }
  });
  return failed;
}
