/**
 * One connection floods at 1,000 frames a second; it is throttled with typed
 * errors (at most one per 100 ms, the rest dropped unanswered), and a
 * neighbour in the same room keeps its latency within 2x.
 * Medians of many samples, side by side in one run, keep this fair on a noisy machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { TestClient } from '../support/client';
import { closeStack, testStack } from '../support/stack';

let stack: LocalStack;
beforeAll(async () => {
  stack = await testStack();
});
afterAll(() => closeStack(stack));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Round trips of a neighbour's send → ack, paced under the rate limit. */
async function sample(c: TestClient, n: number, tag: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await c.request('ack', { action: 'sendmessage', message: `${tag} ${i}`, clientMsgId: `${tag}-${i}` });
    expect(res.type).toBe('ack');
    out.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 120));
  }
  return out;
}

describe('flood', () => {
  it('throttles the flooder and leaves its neighbour’s latency within 2x', async () => {
    const neighbour = await TestClient.connect(stack.websocketUrl, await stack.token('nora'));
    const flooder = await TestClient.connect(stack.websocketUrl, await stack.token('fred'));
    const quiet = median(await sample(neighbour, 25, 'quiet'));

    let sent = 0;
    const floodStarted = performance.now();
    const flood = setInterval(() => {
      // 10 frames every 10 ms: 1,000 frames a second.
      for (let i = 0; i < 10; i++) flooder.send({ action: 'sendmessage', message: `spam ${sent}`, clientMsgId: `spam-${sent++}` });
    }, 10);
    let loaded: number[];
    try {
      loaded = await sample(neighbour, 25, 'loaded');
    } finally {
      clearInterval(flood);
    }
    const floodSeconds = (performance.now() - floodStarted) / 1000;
    // Barriers, not a sleep: a pong means every flood frame reached a handler; once they settled, a second pong follows their replies.
    await flooder.request('pong', { action: 'ping' });
    await stack.gateway.settled();
    await flooder.request('pong', { action: 'ping' });

    const limited = flooder.events.filter((e) => e.type === 'error' && e.code === 'rate_limited').length;
    const accepted = flooder.events.filter((e) => e.type === 'ack').length;
    console.log(`flood: ${sent} frames sent, ${accepted} accepted, ${limited} rate_limited; neighbour p50 quiet ${quiet.toFixed(1)} ms, loaded ${median(loaded).toFixed(1)} ms`);
    expect(sent).toBeGreaterThan(1000);
    // The burst plus 10 a second while the flood lasted (and a second's slack for frames in flight), no more.
    expect(accepted).toBeLessThanOrEqual(20 + Math.ceil(10 * (floodSeconds + 1)));
    // Told, but not once per frame: at most one rate_limited error per 100 ms while the flood lasts.
    expect(limited).toBeGreaterThanOrEqual(Math.floor(floodSeconds * 5));
    expect(limited).toBeLessThanOrEqual(Math.ceil(floodSeconds * 10) + 2);
    // Within 2x, with a few milliseconds of grace for timer granularity on a small baseline.
    expect(median(loaded)).toBeLessThanOrEqual(2 * quiet + 5);
    await Promise.all([neighbour.close(), flooder.close()]);
  });
});
