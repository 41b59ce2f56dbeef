import type { ChatMessage } from '../../amplify/core/protocol';

/**
 * Merges messages into a list kept ascending by seq with no two alike.
 * `existing` must already be in that shape; `incoming` may be in any order
 * and may repeat. Returns `existing` itself when nothing new arrived, so
 * callers can skip a re-render by identity.
 */
export function mergeMessages(existing: readonly ChatMessage[], incoming: readonly ChatMessage[]): readonly ChatMessage[] {
  if (incoming.length === 0) return existing;
  const fresh = [...incoming].sort((a, b) => a.seq - b.seq).filter((m, i, arr) => i === 0 || arr[i - 1]!.seq !== m.seq);
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
      // Same seq: what we had wins; a message never changes once stored.
      out.push(a);
      i++;
      j++;
    }
  }
  return added ? out : existing;
}
