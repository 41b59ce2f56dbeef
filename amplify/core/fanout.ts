import { CONNECT_WINDOW_MS, dropRoomRow, removeConnection, roomConnections, type RoomConnection } from './connections';
import type { ChatDeps } from './deps';
import type { Reservation } from './messages';
import { consoleLog } from './log';
import type { ServerEvent } from './protocol';

const encoder = new TextEncoder();
export const encodeEvent = (event: ServerEvent): Uint8Array => encoder.encode(JSON.stringify(event));

/**
 * Runs `fn` over `items` with at most `limit` in flight: neither a serial
 * loop nor an unbounded Promise.all. Slots freed in one turn of the event
 * loop are refilled together on the next (setImmediate), so the posts that
 * start go out as one batch of writes, as a wave of Promise.all would, but no
 * slot waits for the slowest post of a wave (in AWS, post latency varies).
 * On one busy process, refilling each slot the moment it frees delivered
 * later than this: the bench's figure 2 compares the two.
 * Stops starting new items after the first failure and rejects with it.
 */
export function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let inFlight = 0;
    let refillDue = false;
    let failed = false;
    const refill = () => {
      refillDue = false;
      while (!failed && inFlight < limit && next < items.length) {
        const item = items[next++] as T;
        inFlight++;
        fn(item).then(settle, (err: unknown) => {
          failed = true;
          reject(err);
        });
      }
      if (inFlight === 0 && next >= items.length && !failed) resolve();
    };
    const settle = () => {
      inFlight--;
      if (refillDue || failed) return;
      refillDue = true;
      setImmediate(refill);
    };
    refill();
  });
}

export interface FanoutResult {
  delivered: number;
  /** Answered 410 and pruned. */
  gone: number;
  /** Answered 410 while still inside the $connect window: not proof of anything, so kept. */
  unsettled: number;
  failed: number;
}

/**
 * Posts one event to many connections. A recipient that API Gateway reports
 * gone (410) is pruned with all its room rows, unless it is young enough that
 * the 410 may only mean its $connect has not finished. Other failures are
 * counted and logged, never thrown, so one bad socket cannot fail a send for the room.
 * `room` names the room the recipients were read from, so a row left without its connection goes too.
 */
export async function deliver(deps: ChatDeps, recipients: readonly RoomConnection[], event: ServerEvent, room?: string): Promise<FanoutResult> {
  const data = encodeEvent(event);
  const result: FanoutResult = { delivered: 0, gone: 0, unsettled: 0, failed: 0 };
  await forEachLimit(recipients, deps.fanoutConcurrency, async (r) => {
    try {
      if ((await deps.notifier.post(r.connectionId, data)) === 'ok') {
        result.delivered++;
        return;
      }
      const cutoff = deps.now() - CONNECT_WINDOW_MS;
      if (r.connectedAt >= cutoff) {
        result.unsettled++;
        return;
      }
      result.gone++;
      if (room) deps.cache?.forgetRecipient(room, r.connectionId);
      const { who } = await removeConnection(deps, r.connectionId, { onlyIfOlderThan: cutoff });
      if (!who && room) await dropRoomRow(deps, room, r.connectionId);
    } catch (err) {
      result.failed++;
      // `recipient`, not `connectionId`: that key is the invocation's own connection.
      (deps.log ?? consoleLog).warn('post failed', { recipient: r.connectionId }, err);
    }
  });
  return result;
}

/** Everyone in the room (optionally but one connection) gets the event. */
export async function broadcast(deps: ChatDeps, room: string, event: ServerEvent, except?: string): Promise<FanoutResult> {
  const recipients = await roomConnections(deps, room);
  return deliver(deps, except ? recipients.filter((r) => r.connectionId !== except) : recipients, event, room);
}

/** A reply to the caller. A caller that has gone is not pruned here: its own $disconnect does that. */
export async function reply(deps: ChatDeps, connectionId: string, event: ServerEvent): Promise<void> {
  await deps.notifier.post(connectionId, encodeEvent(event));
}

/**
 * The room's recipients for a seq reserved at `reservation.version`: this
 * container's list if it was read at that version, else a strongly
 * consistent Query, started only now that the seq is reserved, so every
 * connection whose join landed before this message was sequenced is in it.
 */
export async function recipientsAt(deps: ChatDeps, room: string, reservation: Reservation): Promise<RoomConnection[]> {
  const held = deps.cache?.recipientsAt(room, reservation.version);
  if (held) return held;
  const conns = await roomConnections(deps, room);
  deps.cache?.storeRecipients(room, reservation.version, conns);
  return conns;
}
