/**
 * A lean WebSocket client for the bench: thousands of them share this
 * process, so it keeps no event log (unlike test/support/client.ts) and
 * hands each frame's text and arrival time to whoever listens.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { progress } from './env';
import { forEachLimit } from '../amplify/core/fanout';

export type FrameListener = (text: string, at: number, client: BenchClient) => void;

export class BenchClient {
  readonly listeners = new Set<FrameListener>();
  /** Closes we did not ask for. */
  drops = 0;
  private closing = false;
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket, readonly index: number) {
    ws.on('message', (data) => {
      const at = performance.now();
      const text = String(data);
      for (const listen of this.listeners) listen(text, at, this);
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.once('close', () => {
        if (!this.closing) this.drops++;
        resolve();
      }),
    );
  }

  static connect(url: string, index: number, timeoutMs = 15_000): Promise<BenchClient> {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new BenchClient(ws, index)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: object | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a Parley action and resolves with the JSON frame that echoes its reqId. */
  request(frame: { action: string; reqId: string } & Record<string, unknown>, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const needle = `"reqId":${JSON.stringify(frame.reqId)}`;
      const timer = setTimeout(() => {
        this.listeners.delete(listen);
        reject(new Error(`no reply to ${frame.action} ${frame.reqId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listen: FrameListener = (text) => {
        if (!text.includes(needle)) return;
        clearTimeout(timer);
        this.listeners.delete(listen);
        resolve(JSON.parse(text) as Record<string, unknown>);
      };
      this.listeners.add(listen);
      this.send(frame);
    });
  }

  /** A WebSocket-level ping: proves the socket is alive without touching any handler. */
  ping(timeoutMs = 10_000): Promise<boolean> {
    if (!this.open) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.ws.once('pong', () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.ws.ping();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    // A server that never answers the close handshake must not hold the bench up.
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(timer);
  }
}

/** Opens `count` sockets, `concurrency` handshakes at a time, reporting progress. */
export async function connectMany(
  count: number,
  urlFor: (index: number) => string,
  what: string,
  opts: { concurrency?: number; offset?: number } = {},
): Promise<BenchClient[]> {
  const offset = opts.offset ?? 0;
  const clients: BenchClient[] = new Array<BenchClient>(count);
  let done = 0;
  let lastReport = Date.now();
  const indices = Array.from({ length: count }, (_, i) => i);
  try {
    await forEachLimit(indices, opts.concurrency ?? 16, async (i) => {
      clients[i] = await BenchClient.connect(urlFor(offset + i), offset + i);
      done++;
      if (Date.now() - lastReport > 3000) {
        lastReport = Date.now();
        progress(`  ${what}: ${done}/${count} connected`);
      }
    });
  } catch (err) {
    await closeAll(clients.filter(Boolean));
    throw err;
  }
  return clients;
}

export async function closeAll(clients: readonly BenchClient[]): Promise<void> {
  await forEachLimit(clients, 100, (c) => c.close());
}
