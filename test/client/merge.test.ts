import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../amplify/core/protocol';
import { backoffDelay } from '../../src/realtime/backoff';
import { applyChanges, mergeMessages } from '../../src/realtime/merge';
import { SeqTracker } from '../../src/realtime/sequence';

const msg = (seq: number): ChatMessage => ({ room: 'r', seq, id: `id${seq}`, senderId: 'u', senderName: 'u', text: `t${seq}`, ts: seq });
const seqs = fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 80 });
/** A valid `existing`: ascending, unique. */
const sorted = seqs.map((s) => [...new Set(s)].sort((a, b) => a - b).map(msg));
const anyOrder = seqs.map((s) => s.map(msg));

describe('mergeMessages', () => {
  it('yields the ascending, duplicate-free union of both inputs', () => {
    fc.assert(
      fc.property(sorted, anyOrder, (existing, incoming) => {
        const out = mergeMessages(existing, incoming).map((m) => m.seq);
        const union = [...new Set([...existing, ...incoming].map((m) => m.seq))].sort((a, b) => a - b);
        expect(out).toEqual(union);
      }),
    );
  });

  it('is idempotent and order-insensitive', () => {
    fc.assert(
      fc.property(sorted, anyOrder, anyOrder, (existing, a, b) => {
        const once = mergeMessages(existing, a);
        expect(mergeMessages(once, a)).toBe(once);
        const ab = mergeMessages(mergeMessages(existing, a), b).map((m) => m.seq);
        const ba = mergeMessages(mergeMessages(existing, b), a).map((m) => m.seq);
        expect(ab).toEqual(ba);
      }),
    );
  });

  it('keeps the message it already had for a seq, and the same array when nothing is new', () => {
    fc.assert(
      fc.property(sorted, (existing) => {
        const echoes = existing.map((m) => ({ ...m, text: 'changed' }));
        const out = mergeMessages(existing, echoes);
        expect(out).toBe(existing);
        expect(mergeMessages(existing, [])).toBe(existing);
      }),
    );
  });
});

describe('edits and deletes', () => {
  const edited = (seq: number, editSeq: number): ChatMessage => ({ ...msg(seq), text: `e${editSeq}`, editSeq, editedAt: editSeq });
  const deleted = (seq: number, editSeq: number): ChatMessage => ({ ...msg(seq), text: '', deleted: true, editSeq, editedAt: editSeq });

  it('lets a copy edited later replace the one held, never an older one, and a delete is final', () => {
    const held = [msg(1), edited(2, 10), msg(3)];
    const later = mergeMessages(held, [edited(2, 12)]);
    expect(later.map((m) => m.text)).toEqual(['t1', 'e12', 't3']);
    expect(mergeMessages(later, [edited(2, 11), msg(2)])).toBe(later);
    const gone = mergeMessages(later, [deleted(3, 13)]);
    expect(gone[2]).toMatchObject({ deleted: true, text: '' });
    // Nothing brings a deleted message back, not even an edit with a higher seq.
    expect(mergeMessages(gone, [edited(3, 99)])).toBe(gone);
  });

  it('ends at the newest copy of each seq whatever order the copies come in', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 20 })), { maxLength: 40 }), (copies) => {
        const all = copies.map(([seq, e]) => (e === 0 ? msg(seq) : edited(seq, e)));
        let one: readonly ChatMessage[] = [];
        for (const m of all) one = mergeMessages(one, [m]);
        const batch = mergeMessages([], all);
        for (const list of [one, batch]) {
          for (const m of list) {
            const best = Math.max(0, ...all.filter((x) => x.seq === m.seq).map((x) => x.editSeq ?? 0));
            expect(m.editSeq ?? 0).toBe(best);
          }
        }
      }),
    );
  });

  it('applies a change only when its seq is above the message\'s editSeq, and drops one whose target is not loaded', () => {
    const list = [msg(1), edited(2, 10)];
    const change = (kind: 'edit' | 'delete', seq: number, target: number) =>
      kind === 'edit' ? { kind, room: 'r', seq, target, text: `c${seq}`, ts: seq, senderId: 'u' } : { kind, room: 'r', seq, target, ts: seq, senderId: 'u' };
    expect(applyChanges(list, [change('edit', 9, 2)])).toBe(list);
    expect(applyChanges(list, [change('edit', 5, 7)])).toBe(list);
    const out = applyChanges(list, [change('edit', 11, 1), change('delete', 12, 2), change('edit', 13, 2)]);
    expect(out).toEqual([
      { ...msg(1), text: 'c11', editSeq: 11, editedAt: 11 },
      { ...msg(2), text: '', deleted: true, editSeq: 12, editedAt: 12 },
    ]);
    expect(list[0]!.text).toBe('t1');
  });
});

describe('SeqTracker', () => {
  it('delivers each seq once and is contiguous exactly up to the first hole', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 100 }), (base, arrivals) => {
        const t = new SeqTracker();
        t.setBase(base);
        const delivered: number[] = [];
        for (const s of arrivals) if (t.accept(s)) delivered.push(s);
        expect(new Set(delivered).size).toBe(delivered.length);
        expect(delivered.every((s) => s > base)).toBe(true);
        let expected = base;
        const have = new Set(delivered);
        while (have.has(expected + 1)) expected++;
        expect(t.contiguous).toBe(expected);
        expect(t.behind).toBe(Math.max(base, ...arrivals) > expected);
      }),
    );
  });

  it('holds early arrivals until a base is known', () => {
    const t = new SeqTracker();
    expect(t.accept(7)).toBe(true);
    expect(t.accept(7)).toBe(false);
    expect(t.behind).toBe(false);
    t.setBase(5);
    expect(t.contiguous).toBe(5);
    expect(t.behind).toBe(true);
    expect(t.accept(6)).toBe(true);
    expect(t.contiguous).toBe(7);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially, is capped, and jitters within [half, full]', () => {
    const opts = { baseMs: 100, maxMs: 5000 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, opts, () => 1))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(20, opts, () => 1)).toBe(5000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const full = Math.min(5000, 100 * 2 ** attempt);
        const d = backoffDelay(attempt, opts, () => r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(full / 2));
        expect(d).toBeLessThanOrEqual(full);
      }),
    );
  });
});
