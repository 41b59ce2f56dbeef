import WebSocket from 'ws';
import type { ChatMessage, ClientActionInput, EventOf, ServerEvent, ServerEventType } from '../../amplify/core/protocol';

/** A test's WebSocket client: records every event and waits for the ones a test expects. */
export class TestClient {
  readonly events: ServerEvent[] = [];
  private waiters: { match: (e: ServerEvent) => boolean; resolve: (e: ServerEvent) => void }[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const event = JSON.parse(String(data)) as ServerEvent;
      this.events.push(event);
      this.waiters = this.waiters.filter((w) => (w.match(event) ? (w.resolve(event), false) : true));
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static async connect(url: string, token?: string): Promise<TestClient> {
    const ws = new WebSocket(token ? `${url}?token=${encodeURIComponent(token)}` : url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return new TestClient(ws);
  }

  /** Resolves with the HTTP status a refused handshake answered, or throws if the socket opened. */
  static async refusal(url: string): Promise<number> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('open', () => {
        ws.close();
        reject(new Error('connection was accepted'));
      });
      ws.once('error', () => undefined);
    });
  }

  send(action: ClientActionInput | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(action));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The next event (already received or still to come) of this type that satisfies `where`. */
  next<T extends ServerEventType>(type: T, where: (e: EventOf<T>) => boolean = () => true, timeoutMs = 5000): Promise<EventOf<T>> {
    return this.take((e) => e.type === type && where(e as EventOf<T>), type, timeoutMs) as Promise<EventOf<T>>;
  }

  /** Sends an action and waits for its reply or its error, matched by reqId. */
  request<T extends ServerEventType>(type: T, action: ClientActionInput, timeoutMs = 5000): Promise<EventOf<T> | EventOf<'error'>> {
    const reqId = action.reqId ?? `r${Math.random().toString(36).slice(2)}`;
    this.send({ ...action, reqId });
    const match = (e: ServerEvent) => (e.type === type || e.type === 'error') && (e as { reqId?: string }).reqId === reqId;
    return this.take(match, `${type} for ${reqId}`, timeoutMs) as Promise<EventOf<T> | EventOf<'error'>>;
  }

  /** Sends an action and waits for whatever answers it (matched by reqId). */
  reply(action: ClientActionInput, timeoutMs = 5000): Promise<ServerEvent> {
    const reqId = action.reqId ?? `r${Math.random().toString(36).slice(2)}`;
    this.send({ ...action, reqId });
    return this.take((e) => (e as { reqId?: string }).reqId === reqId, `a reply to ${reqId}`, timeoutMs);
  }

  /** Any frame, including API Gateway's own untyped ones such as "Internal server error". */
  takeRaw(match: (e: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<ServerEvent> {
    return this.take((e) => match(e as unknown as Record<string, unknown>), 'a gateway frame', timeoutMs);
  }

  private take(match: (e: ServerEvent) => boolean, what: string, timeoutMs: number): Promise<ServerEvent> {
    const seen = this.events.find(match);
    if (seen) {
      this.events.splice(this.events.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (e: ServerEvent) => {
          clearTimeout(timer);
          this.events.splice(this.events.indexOf(e), 1);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; last events: ${JSON.stringify(this.events.slice(-5))}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends until acked, reusing one clientMsgId, the way Parley's client retries. */
export async function sendUntilAcked(c: TestClient, message: string, clientMsgId: string, tries = 20): Promise<EventOf<'ack'>> {
  for (let i = 0; i < tries; i++) {
    const res = await c.reply({ action: 'sendmessage', message, clientMsgId }, 3000).catch(() => undefined);
    if (res?.type === 'ack') return res;
    await pause(250);
  }
  throw new Error(`no ack for ${clientMsgId}`);
}

/** The first page of a room's history, oldest first. */
export async function transcript(c: TestClient, room = 'lobby'): Promise<ChatMessage[]> {
  const res = await c.request('history', { action: 'history', room, after: 0, limit: 100 });
  if (res.type !== 'history') throw new Error(res.message);
  return res.messages;
}
