import type { ChatMessage } from '../../amplify/core/protocol';
import { dayKey, dayLabel } from './format';
import type { PendingMessage } from './store';

/** Messages from one sender within this long of each other share one header. */
export const GROUP_WINDOW_MS = 5 * 60_000;

export type Row =
  | { kind: 'day'; key: string; label: string }
  /** "New messages": above the first message from others after the read marker the room was opened with. */
  | { kind: 'divider'; key: 'new' }
  | { kind: 'message'; key: string; message: ChatMessage; own: boolean; first: boolean }
  | { kind: 'pending'; key: string; pending: PendingMessage; first: boolean };

/**
 * Flattens a room into list rows: a separator at each new day, and a header
 * (name, time, avatar) only where the sender changes or time passes. Own
 * unsent messages follow the confirmed ones. With `dividerAt`, a "New
 * messages" divider goes right above the first message from someone else
 * with a higher seq (after that day's separator), and that message gets its
 * header back, so what follows the line reads as its own start.
 */
export function buildRows(
  messages: readonly ChatMessage[],
  pending: readonly PendingMessage[],
  meId: string,
  now: number = Date.now(),
  dividerAt?: number,
): Row[] {
  const rows: Row[] = [];
  let divided = false;
  let prev: { sender: string; ts: number; day: string } | undefined;
  const place = (sender: string, ts: number): boolean => {
    const day = dayKey(ts);
    if (day !== prev?.day) rows.push({ kind: 'day', key: `d:${day}`, label: dayLabel(ts, now) });
    const first = !prev || prev.sender !== sender || prev.day !== day || ts - prev.ts > GROUP_WINDOW_MS;
    prev = { sender, ts, day };
    return first;
  };
  for (const m of messages) {
    let first = place(m.senderId, m.ts);
    if (dividerAt !== undefined && !divided && m.seq > dividerAt && m.senderId !== meId && !m.deleted) {
      divided = true;
      rows.push({ kind: 'divider', key: 'new' });
      first = true;
    }
    rows.push({ kind: 'message', key: `m:${m.seq}`, message: m, own: m.senderId === meId, first });
  }
  for (const p of pending) {
    const first = place(meId, Math.max(p.ts, prev?.ts ?? 0));
    rows.push({ kind: 'pending', key: `p:${p.clientMsgId}`, pending: p, first });
  }
  return rows;
}
