/**
 * Send-to-receive latency: each bench message carries a unique text, the
 * sender's clock starts just before its frame goes out, and every other
 * member's socket stops it on arrival. Senders and receivers share this
 * process, so one monotonic clock serves both ends.
 */
import { performance } from 'node:perf_hooks';
import type { BenchClient, FrameListener } from './client';

const PREFIX = 'bench:';
let counter = 0;

/** Parley frames are JSON `message` events; the text is the one the sender chose. */
export function parleyMessageText(frame: string): string | undefined {
  if (!frame.includes('"type":"message"') || !frame.includes(PREFIX)) return undefined;
  const event = JSON.parse(frame) as { type?: string; text?: unknown };
  return event.type === 'message' && typeof event.text === 'string' ? event.text : undefined;
}

/** The tutorial posts the raw message text to every connection. */
export function baselineMessageText(frame: string): string | undefined {
  return frame.startsWith(PREFIX) ? frame : undefined;
}

interface Pending {
  sentAt: number;
  sender: BenchClient;
  expected: number;
  received: number;
  settle?: () => void;
}

export class Deliveries {
  private readonly pending = new Map<string, Pending>();
  /** Latencies (ms) of every delivery recorded since the last `take`. */
  private samples: number[] = [];
  private sent = 0;
  private expectedTotal = 0;
  private receivedTotal = 0;
  private errorFrames = 0;
  readonly listener: FrameListener;

  constructor(extract: (frame: string) => string | undefined) {
    this.listener = (frame, at, client) => {
      const text = extract(frame);
      if (text === undefined) {
        if (frame.includes('"type":"error"')) this.errorFrames++;
        return;
      }
      const p = this.pending.get(text);
      // The sender hears its own broadcast too; only the other members count.
      if (!p || client === p.sender) return;
      this.samples.push(at - p.sentAt);
      p.received++;
      this.receivedTotal++;
      if (p.received >= p.expected) {
        this.pending.delete(text);
        p.settle?.();
      }
    };
  }

  attach(clients: readonly BenchClient[]): void {
    for (const c of clients) c.listeners.add(this.listener);
  }

  detach(clients: readonly BenchClient[]): void {
    for (const c of clients) c.listeners.delete(this.listener);
  }

  /**
   * Sends one message that `expected` other sockets should receive. Resolves
   * when they all have, or after `timeoutMs` (the rest count as lost).
   */
  send(sender: BenchClient, frame: (text: string) => object | string, expected: number, timeoutMs = 5000): Promise<void> {
    const text = `${PREFIX}${++counter}`;
    // The clock starts as the frame goes out, below, not while the bookkeeping is set up.
    const entry: Pending = { sentAt: 0, sender, expected, received: 0 };
    this.sent++;
    this.expectedTotal += expected;
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(text);
        resolve();
      }, timeoutMs);
      entry.settle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.pending.set(text, entry);
    entry.sentAt = performance.now();
    sender.send(frame(text));
    return done;
  }

  /** Everything measured since the last take, and a fresh start. */
  take(): { samples: number[]; sent: number; expected: number; received: number; errorFrames: number } {
    const out = {
      samples: this.samples,
      sent: this.sent,
      expected: this.expectedTotal,
      received: this.receivedTotal,
      errorFrames: this.errorFrames,
    };
    this.samples = [];
    this.sent = this.expectedTotal = this.receivedTotal = this.errorFrames = 0;
    return out;
  }
}
