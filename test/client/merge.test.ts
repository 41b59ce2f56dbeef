import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../amplify/core/protocol';
import { backoffDelay } from '../../src/realtime/backoff';
import { mergeMessages } from '../../src/realtime/merge';
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
