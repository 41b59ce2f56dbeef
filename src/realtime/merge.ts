import type { ChatMessage, RoomChange } from '../../amplify/core/protocol';

/**
 * Which of two copies of one message is current: a delete is final, and
 * otherwise the copy with the later edit (higher editSeq) wins; on a tie the
 * one held stays, so an echo never causes a re-render.
 */
export function newer(held: ChatMessage, incoming: ChatMessage): boolean {
  if (held.deleted) return false;
  if (incoming.deleted) return true;
  return (incoming.editSeq ?? 0) > (held.editSeq ?? 0);
}

/** A message with one change applied, or the message itself when the change is older than what it shows. */
export function applyChange(message: ChatMessage, change: RoomChange): ChatMessage {
  if (message.deleted || change.seq <= (message.editSeq ?? 0)) return message;
  if (change.kind === 'delete') return { ...message, text: '', deleted: true, editSeq: change.seq, editedAt: change.ts };
  return { ...message, text: change.text, editSeq: change.seq, editedAt: change.ts };
}

/**
 * Applies changes to the messages they target; a change whose target is not
 * in the list is dropped (history shows the current text when it is loaded).
 * Returns `messages` itself when nothing changed.
 */
export function applyChanges(messages: readonly ChatMessage[], changes: readonly RoomChange[]): readonly ChatMessage[] {
  let out: ChatMessage[] | undefined;
  for (const change of changes) {
    const list = out ?? messages;
    const i = indexOfSeq(list, change.target);
    if (i < 0) continue;
    const next = applyChange(list[i]!, change);
    if (next === list[i]) continue;
    out ??= [...messages];
    out[i] = next;
  }
  return out ?? messages;
}

/** Binary search in a list ascending by seq. */
function indexOfSeq(list: readonly ChatMessage[], seq: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = list[mid]!.seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * Merges messages into a list kept ascending by seq with no two alike.
 * `existing` must already be in that shape; `incoming` may be in any order
 * and may repeat. For a seq held already, an incoming copy replaces it only
 * when it is newer (see `newer`): a later edit, or the delete. Returns
 * `existing` itself when nothing new arrived, so callers can skip a
 * re-render by identity.
 */
export function mergeMessages(existing: readonly ChatMessage[], incoming: readonly ChatMessage[]): readonly ChatMessage[] {
  if (incoming.length === 0) return existing;
  // One copy per seq: the newest of any repeats.
  const sorted = [...incoming].sort((a, b) => a.seq - b.seq);
  const fresh: ChatMessage[] = [];
  for (const m of sorted) {
    const prev = fresh.at(-1);
    if (prev?.seq !== m.seq) fresh.push(m);
    else if (newer(prev, m)) fresh[fresh.length - 1] = m;
  }
  const last = existing.at(-1);
  // Fast path, and the common one: live messages landing after everything known.
  if (!last || fresh[0]!.seq > last.seq) return existing.concat(fresh);
  const out: ChatMessage[] = [];
  let i = 0;
  let j = 0;
  let added = false;
  while (i < existing.length || j < fresh.length) {
    const a = existing[i];
    const b = fresh[j];
    if (b === undefined || (a !== undefined && a.seq < b.seq)) {
      out.push(a!);
      i++;
    } else if (a === undefined || b.seq < a.seq) {
      out.push(b);
      added = true;
      j++;
    } else {
      // Same seq: what we had wins, unless the copy coming in was edited later (or deleted).
      if (newer(a, b)) {
        out.push(b);
        added = true;
      } else out.push(a);
      i++;
      j++;
    }
  }
  return added ? out : existing;
}
