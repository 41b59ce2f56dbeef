/**
 * Timers and quotas: the 32 KB frame limit (checked on the raw bytes), the
 * idle timeout, the connection cap, and the gateway-initiated close.
 */
import type { GatewayScheduler, GatewaySocket } from './types';

export const realScheduler: GatewayScheduler = {
  schedule(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Every timer the gateway sets goes through here, so close() can leave none behind. */
export class Timers {
  private readonly pending = new Set<{ cancel: () => void }>();

  constructor(private readonly scheduler: GatewayScheduler) {}

  /** Runs `fn` after `ms`; the returned function cancels it. */
  later(ms: number, fn: () => void): () => void {
    const entry = { cancel: () => undefined as void };
    this.pending.add(entry);
    entry.cancel = this.scheduler.schedule(ms, () => {
      this.pending.delete(entry);
      fn();
    });
    return () => {
      this.pending.delete(entry);
      entry.cancel();
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => void this.later(ms, resolve));
  }

  clear(): void {
    for (const entry of this.pending) entry.cancel();
    this.pending.clear();
  }
}

/**
 * Watches the raw bytes beside `ws` (which only limits whole messages) and
 * trips on the first frame whose payload exceeds the limit. Headers may be
 * split across chunks; payload bytes are skipped, never copied.
 */
export function frameGuard(limit: number, onOversize: () => void): (chunk: Buffer) => void {
  let head = Buffer.alloc(0); // a partial header carried over (at most 14 bytes)
  let skip = 0;
  let tripped = false;
  return (chunk) => {
    let i = 0;
    while (!tripped && i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        continue;
      }
      const had = head.length;
      const h = Buffer.concat([head, chunk.subarray(i, i + 14 - had)]);
      if (h.length < 2) return void (head = h);
      const code = h[1]! & 0x7f;
      const size = 2 + (code === 126 ? 2 : code === 127 ? 8 : 0) + (h[1]! & 0x80 ? 4 : 0);
      if (h.length < size) return void (head = h);
      const payload = code === 126 ? h.readUInt16BE(2) : code === 127 ? Number(h.readBigUInt64BE(2)) : code;
      head = Buffer.alloc(0);
      i += size - had;
      if (payload > limit) {
        tripped = true;
        onOversize();
      }
      skip = payload;
    }
  };
}

/** Gateway-initiated close; a client that never completes the close handshake is cut off after a second. */
export function hangUp(timers: Timers, c: GatewaySocket, code: number, reason: string): void {
  if (c.closing) return;
  c.closing = { code, reason };
  c.ws.close(code, reason);
  c.kill = timers.later(1000, () => c.ws.terminate());
}

/** The connection cap (2 hours in AWS), counted from the handshake. */
export function armCap(timers: Timers, c: GatewaySocket, maxConnectionMs: number): void {
  c.cap = timers.later(maxConnectionMs, () => hangUp(timers, c, 1001, 'Going away'));
}

/** (Re)starts the idle timeout (10 minutes in AWS). Only messages call this: pings and pongs are not activity. */
export function armIdle(timers: Timers, c: GatewaySocket, idleTimeoutMs: number): void {
  c.idle?.();
  c.idle = timers.later(idleTimeoutMs, () => hangUp(timers, c, 1001, 'Going away'));
}

/** Stops a closed connection's timers. */
export function disarm(c: GatewaySocket): void {
  [c.idle, c.cap, c.kill].forEach((cancel) => cancel?.());
}
