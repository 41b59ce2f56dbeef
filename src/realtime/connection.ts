import type { ServerEvent } from '../../amplify/core/protocol';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { Emitter } from './emitter';
import type { ConnectionState, SocketFactory, WebSocketLike } from './types';

export interface UrlRequest {
  /** The server said the token expired: get a new one from the identity provider, not a cached one. */
  refresh: boolean;
}

export interface ReconnectingSocketOptions {
  /** Resolved afresh before every attempt, so each one carries a current token. */
  getUrl: (request: UrlRequest) => Promise<string>;
  createSocket?: SocketFactory;
  backoff?: BackoffOptions;
  /** The backoff only resets after a socket has stayed up this long, so a flapping link keeps backing off. */
  stableMs?: number;
  /** API Gateway drops sockets idle for 10 minutes; a ping well inside that keeps them. */
  heartbeatMs?: number;
  /** No frame at all this long after a ping means the socket is dead even if it looks open. */
  pongTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** After the server says it is ending the session, how long to wait for its close before closing ourselves. */
  closeGraceMs?: number;
  random?: () => number;
}

export interface ReconnectingSocketEvents {
  state: ConnectionState;
  open: undefined;
  frame: ServerEvent;
  /** `wasOpen` false: the attempt never opened (refused, unreachable, timed out), what a region router counts. */
  close: { code: number; reason: string; wasOpen: boolean };
}

const OPEN = 1;
const browserSocket: SocketFactory = (url) => new WebSocket(url) as unknown as WebSocketLike;

/**
 * One WebSocket at a time that comes back by itself: jittered exponential
 * backoff, a heartbeat that also detects half-open sockets, and a state the
 * UI can show. Knows nothing about chat; it moves JSON frames.
 */
export class ReconnectingSocket extends Emitter<ReconnectingSocketEvents> {
  state: ConnectionState = 'offline';
  private ws: WebSocketLike | undefined;
  private running = false;
  private networkUp = true;
  private everOpened = false;
  private attempt = 0;
  /** When this socket last sent a frame, and the latest send that a frame was heard after. */
  private lastSentAt = 0;
  private answeredSentAt = 0;
  /** Bumped whenever a socket or URL lookup is abandoned, so its late callbacks are ignored. */
  private generation = 0;
  /** The server is ending this socket's session: send nothing more on it, and come back at once when it closes. */
  private renewing = false;
  /** The next URL must carry a freshly issued token; cleared once one has been resolved. */
  private refreshToken = false;
  /** The current socket has opened (so its close is a drop, not a failed attempt). */
  private wsOpened = false;
  /** The socket is being left on purpose for another endpoint: come back at once. */
  private moving = false;
  private timers: Partial<Record<'retry' | 'stable' | 'heartbeat' | 'pong' | 'connect' | 'grace', ReturnType<typeof setTimeout>>> = {};
  private readonly opts: Required<Omit<ReconnectingSocketOptions, 'getUrl'>> & Pick<ReconnectingSocketOptions, 'getUrl'>;

  constructor(opts: ReconnectingSocketOptions) {
    super();
    this.opts = {
      createSocket: browserSocket,
      backoff: DEFAULT_BACKOFF,
      stableMs: 5_000,
      heartbeatMs: 4 * 60_000,
      pongTimeoutMs: 10_000,
      connectTimeoutMs: 15_000,
      closeGraceMs: 2_000,
      random: Math.random,
      ...opts,
    };
  }

  get isOpen(): boolean {
    return this.ws?.readyState === OPEN && this.state === 'online' && !this.renewing;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.launch();
  }

  stop(): void {
    this.running = false;
    this.drop(1000, 'client stopped');
    this.clear('retry');
    this.setState('offline');
  }

  /** Skips the remaining backoff, e.g. when the network comes back or the user asks. */
  reconnectNow(): void {
    if (!this.running || !this.networkUp || this.ws) return;
    this.clear('retry');
    this.launch();
  }

  /** The browser's own view of the network; while it says down there is no point retrying. */
  setNetwork(up: boolean): void {
    if (up === this.networkUp) return;
    this.networkUp = up;
    if (!up) {
      this.clear('retry');
      this.drop(4000, 'network down');
      if (this.running) this.setState('offline');
    } else if (this.running) {
      this.attempt = 0;
      this.launch();
    }
  }

  /**
   * The server is ending this session (its token expired, or it lost the
   * socket's rooms) and closes the socket next. Nothing more is sent on it;
   * frames still arriving are delivered. When it closes (or after
   * closeGraceMs, should the close never come) the next attempt starts at
   * once rather than after a backoff, and with `refresh` its URL asks for a
   * fresh token. A link that has not been stable since the last renewal backs
   * off as usual, so a server that keeps refusing cannot make a tight loop.
   */
  renew(request: UrlRequest): void {
    if (!this.running) return;
    if (request.refresh) this.refreshToken = true;
    if (!this.ws || this.renewing) return;
    this.renewing = true;
    this.setState('reconnecting');
    this.timers.grace = setTimeout(() => this.drop(4004, 'session ended'), this.opts.closeGraceMs);
  }

  /**
   * Leaves the current socket, if any, and connects again at once with a
   * freshly resolved URL: how a region router moves the connection (a
   * recovered or newly chosen region). Like any drop, the chat layer resyncs
   * and catches up on the new socket. Deliberate and rare, so no backoff.
   */
  restart(reason = 'restart'): void {
    if (!this.running || !this.networkUp) return;
    this.attempt = 0;
    this.clear('retry');
    if (this.ws) {
      this.moving = true;
      this.drop(4005, reason);
    } else {
      // Between attempts (or resolving a URL): start over, abandoning a lookup still in progress.
      this.generation++;
      this.launch();
    }
  }

  /** Pings now and drops the socket if nothing answers; used when a tab wakes up after sleeping. */
  probe(): void {
    if (this.isOpen) this.ping();
    else this.reconnectNow();
  }

  /** Sends one frame if the socket is open; false means the caller must keep it for later. */
  send(frame: string): boolean {
    if (!this.isOpen || !this.ws) return false;
    this.ws.send(frame);
    this.lastSentAt = Date.now();
    return true;
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  private clear(name: keyof ReconnectingSocket['timers']): void {
    clearTimeout(this.timers[name]);
    clearInterval(this.timers[name]);
    delete this.timers[name];
  }

  /**
   * Starts an attempt nobody waits for: connect() handles its own failures
   * (a URL that could not be made schedules a retry), and anything else it
   * throws (a malformed URL, say) is treated the same way rather than lost.
   */
  private launch(): void {
    this.connect().catch(() => {
      if (this.running && !this.ws) this.scheduleRetry();
    });
  }

  private async connect(): Promise<void> {
    if (!this.running || !this.networkUp || this.ws) return;
    const gen = ++this.generation;
    this.setState(this.everOpened ? 'reconnecting' : 'connecting');
    let url: string;
    const refresh = this.refreshToken;
    try {
      url = await this.opts.getUrl({ refresh });
      if (refresh) this.refreshToken = false;
    } catch (err) {
      if (gen !== this.generation) return;
      console.warn('Could not prepare the chat connection', err);
      this.scheduleRetry();
      return;
    }
    if (gen !== this.generation || !this.running || !this.networkUp) return;
    const ws = this.opts.createSocket(url);
    this.ws = ws;
    this.wsOpened = false;
    this.timers.connect = setTimeout(() => this.drop(4002, 'connect timeout'), this.opts.connectTimeoutMs);
    ws.onopen = () => {
      if (gen !== this.generation) return;
      this.clear('connect');
      this.everOpened = true;
      this.wsOpened = true;
      this.setState('online');
      this.timers.stable = setTimeout(() => (this.attempt = 0), this.opts.stableMs);
      this.timers.heartbeat = setInterval(() => this.heartbeat(), this.opts.heartbeatMs);
      this.emit('open', undefined);
    };
    ws.onmessage = (ev) => {
      if (gen !== this.generation) return;
      // Any frame proves the socket alive, not only a pong.
      this.clear('pong');
      this.answeredSentAt = this.lastSentAt;
      let event: ServerEvent;
      try {
        event = JSON.parse(String(ev.data)) as ServerEvent;
      } catch {
        return;
      }
      if (typeof event === 'object' && event !== null && typeof event.type === 'string') this.emit('frame', event);
    };
    ws.onclose = (ev) => {
      if (gen === this.generation) this.down(ev.code, ev.reason);
    };
    ws.onerror = () => undefined; // a close event always follows
  }

  /**
   * A ping costs two billed messages, so it is skipped when this interval
   * already had both halves of its job: a frame sent (which keeps API
   * Gateway's idle timer from firing) and a frame heard after it (which
   * proves the link alive).
   */
  private heartbeat(): void {
    if (this.answeredSentAt > Date.now() - this.opts.heartbeatMs) return;
    this.ping();
  }

  private ping(): void {
    if (!this.send(JSON.stringify({ action: 'ping' }))) return;
    this.timers.pong ??= setTimeout(() => this.drop(4003, 'heartbeat timeout'), this.opts.pongTimeoutMs);
  }

  /** Abandons the current socket at once, without waiting for a close handshake a dead link never finishes. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    // Still listened to: closing a socket that is still connecting reports an error, which Node's ws throws if nobody listens.
    ws.onerror = () => undefined;
    try {
      ws.close(code === 1000 ? 1000 : 4000, reason);
    } catch {
      // already closing
    }
    this.down(code, reason);
  }

  private down(code: number, reason: string): void {
    this.generation++;
    this.ws = undefined;
    const { renewing, moving, wsOpened: wasOpen } = this;
    this.renewing = this.moving = this.wsOpened = false;
    for (const t of ['stable', 'heartbeat', 'pong', 'connect', 'grace'] as const) this.clear(t);
    this.emit('close', { code, reason, wasOpen });
    if (!this.running) return;
    if (!this.networkUp) return this.setState('offline');
    this.setState(this.everOpened ? 'reconnecting' : 'connecting');
    // A session the server ended on a stable link comes back at once, as does a move; the attempt count still rises.
    this.scheduleRetry(moving || (renewing && this.attempt === 0));
  }

  private scheduleRetry(immediate = false): void {
    if (!this.running || !this.networkUp) return;
    this.clear('retry');
    const backoff = backoffDelay(this.attempt++, this.opts.backoff, this.opts.random);
    const delay = immediate ? 0 : backoff;
    this.timers.retry = setTimeout(() => {
      delete this.timers.retry;
      void this.connect();
    }, delay);
  }
}
