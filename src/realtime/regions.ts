/**
 * Which region's realtime endpoint the app talks to (issue 10). Modelled on
 * latency-routed clients (LiveKit's region provider, GameLift's ping
 * beacons): measure each endpoint a few times, use the nearest, remember the
 * answer for a while, and on repeated connection failures move to the next
 * best; come back only once the preferred region proves healthy again. The
 * user may pin a region instead. The connection asks `resolve()` on every
 * attempt, so a failover is nothing more than the next attempt's URL.
 */
import type { RegionEndpoint } from '../../amplify/regions/list';
import type { ReconnectingSocket } from './connection';
import { Emitter } from './emitter';
import type { SocketFactory, WebSocketLike } from './types';

/** One key per browser, not per user: distance is the device's, whoever signs in. */
export const REGION_STORAGE_KEY = 'parley:region';

/** Round-trip time to an endpoint in ms; rejects when nothing answered within `timeoutMs`. */
export type Probe = (url: string, timeoutMs: number) => Promise<number>;
/** Whether an endpoint is healthy enough to move back to. */
export type HealthCheck = (endpoint: RegionEndpoint) => Promise<boolean>;
type RegionStorage = Pick<Storage, 'getItem' | 'setItem'>;

export interface RegionRouterOptions {
  /** Primary first (outputs' `custom.regions`). */
  regions: readonly RegionEndpoint[];
  storage?: RegionStorage | undefined;
  probe?: Probe;
  /** Probes per endpoint; the fastest counts (queueing only ever adds to a round trip). */
  probesPerRegion?: number;
  probeTimeoutMs?: number;
  /** The first connect waits at most this long for measurements, then goes with the best known (the primary if none). */
  firstConnectWaitMs?: number;
  /** A measured ranking is trusted this long; after it the endpoints are measured again, in the background. */
  choiceTtlMs?: number;
  /** Connection attempts in a row that may fail in one region before the next best is tried. */
  failoverAfter?: number;
  /** While failed over, how often the preferred region is checked; also when a stale ranking is re-measured. */
  recheckMs?: number;
  /** Decides that a region that failed may be used again. Default: it answers a probe. */
  check?: HealthCheck;
  /** A check not settled by then counts as unhealthy, so a hung one cannot stop the rechecks. */
  checkTimeoutMs?: number;
  now?: () => number;
}

export interface RegionStatus {
  /** Every region, primary first. */
  regions: readonly string[];
  /** The region the connection uses (or is trying); undefined before the first attempt. */
  current: string | undefined;
  /** A socket to `current` is open. */
  connected: boolean;
  /** The user's pinned region; undefined: automatic (nearest). */
  preference: string | undefined;
  /** The nearest region as measured, if measured. */
  nearest: string | undefined;
  /** The region the app would use if it could: the pinned one, else the nearest. */
  preferred: string;
  /** The preferred region failed and `current` is a fallback. */
  failedOver: boolean;
  /** Regions given up on for now (failed `failoverAfter` attempts in a row, not healthy since). */
  down: readonly string[];
}

export type MoveReason = 'failover' | 'recovered' | 'preference';

export interface RegionRouterEvents {
  /** Anything in the status changed. */
  status: RegionStatus;
  /** The connection should leave its region now (a recovered or newly chosen one is better); failover needs no move, the next attempt already goes elsewhere. */
  move: { to: string; reason: Exclude<MoveReason, 'failover'> };
}

interface Saved {
  preference?: string;
  measured?: { ranking: string[]; at: number };
}

const browserSocket: SocketFactory = (url) => new WebSocket(url) as unknown as WebSocketLike;

/**
 * Opens one socket and closes it at its first sign of life: `open`,
 * `closed` (refused or failed), or `silent` when nothing came within
 * timeoutMs. Rejects only when the socket cannot even be made (a bad URL).
 */
function knock(url: string, timeoutMs: number, createSocket: SocketFactory): Promise<'open' | 'closed' | 'silent'> {
  return new Promise((resolve, reject) => {
    let ws: WebSocketLike;
    try {
      ws = createSocket(url);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const finish = (outcome: 'open' | 'closed' | 'silent') => {
      clearTimeout(timer);
      ws.onopen = ws.onclose = null;
      // Still listened to: closing a socket still connecting reports an error.
      ws.onerror = () => undefined;
      try {
        ws.close(1000, 'probe');
      } catch {
        // already closed
      }
      resolve(outcome);
    };
    const timer = setTimeout(() => finish('silent'), timeoutMs);
    ws.onopen = () => finish('open');
    ws.onclose = () => finish('closed');
    ws.onerror = () => undefined; // a close follows
  });
}

/**
 * Times an unauthenticated WebSocket open: API Gateway refuses it (401; the
 * token is its identity source, so no authorizer even runs) after DNS, TCP,
 * TLS and one HTTP round trip, which is what distance costs a real connect.
 * Any answer counts, open or refused; silence past the timeout rejects.
 */
export function websocketProbe(createSocket: SocketFactory = browserSocket): Probe {
  return async (url, timeoutMs) => {
    const started = performance.now();
    if ((await knock(url, timeoutMs, createSocket)) === 'silent') throw new Error(`No answer from ${url} within ${timeoutMs} ms`);
    return performance.now() - started;
  };
}

/**
 * True when an authenticated socket to `url` opens within `timeoutMs` (it is
 * closed at once). Unlike a probe, this proves the region serves: a browser
 * cannot tell a live region's 401 from a dead one's refusal.
 */
export async function trialOpen(url: string, timeoutMs: number, createSocket: SocketFactory = browserSocket): Promise<boolean> {
  return (await knock(url, timeoutMs, createSocket).catch(() => 'closed')) === 'open';
}

/** `p`, or a rejection once `ms` have passed. */
function timed<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`No answer within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The probe's URL: the endpoint with no token, so it is refused before anything runs. */
const probeUrl = (endpoint: RegionEndpoint): string => endpoint.websocketUrl;

/** Close codes the client itself chose: not the region's fault (see connection.ts). */
const CLIENT_CLOSES: ReadonlySet<number> = new Set([1000, 4000, 4005]);

export class RegionRouter extends Emitter<RegionRouterEvents> {
  private readonly endpoints: ReadonlyMap<string, RegionEndpoint>;
  private readonly names: readonly string[];
  private readonly opts: Required<Omit<RegionRouterOptions, 'storage' | 'check'>> & Pick<RegionRouterOptions, 'storage' | 'check'>;
  private preference: string | undefined;
  /** Regions nearest first, as last measured (config order until then). */
  private ranking: string[];
  private measuredAt: number | undefined;
  /** The best round trip heard from each region in the current measurement. */
  private readonly rtt = new Map<string, number>();
  private measuring: Promise<void> | undefined;
  private waited = false;
  private current: string | undefined;
  private connected = false;
  private failures = 0;
  /** Given up on, until a check finds them healthy. */
  private readonly down = new Set<string>();
  private checking = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private snapshot: RegionStatus;

  constructor(opts: RegionRouterOptions) {
    super();
    if (!opts.regions.length) throw new Error('RegionRouter needs at least one region');
    this.opts = {
      probe: websocketProbe(),
      probesPerRegion: 3,
      probeTimeoutMs: 2_000,
      firstConnectWaitMs: 1_500,
      choiceTtlMs: 24 * 60 * 60_000,
      failoverAfter: 3,
      recheckMs: 60_000,
      checkTimeoutMs: 10_000,
      now: Date.now,
      ...opts,
      storage: 'storage' in opts ? opts.storage : globalThis.localStorage,
    };
    this.names = opts.regions.map((r) => r.region);
    this.endpoints = new Map(opts.regions.map((r) => [r.region, r]));
    this.ranking = [...this.names];
    const saved = this.load();
    if (saved.preference && this.endpoints.has(saved.preference)) this.preference = saved.preference;
    const ranking = saved.measured?.ranking;
    // A saved ranking counts only if it ranks exactly today's regions: a region added since was never measured.
    if (ranking && ranking.length === this.names.length && this.names.every((n) => ranking.includes(n))) {
      this.ranking = [...ranking];
      this.measuredAt = saved.measured!.at;
    }
    this.snapshot = this.build();
  }

  /** More than one region: only then is there anything to choose or show. */
  get multiRegion(): boolean {
    return this.names.length > 1;
  }

  /** For useSyncExternalStore: the same object until something changes. */
  getStatus = (): RegionStatus => this.snapshot;

  subscribe = (fn: () => void): (() => void) => this.on('status', fn);

  /** Starts the periodic recheck (and a background measurement when the saved one is stale). */
  start(): void {
    if (this.timer || !this.multiRegion) return;
    this.timer = setInterval(() => void this.recheck(), this.opts.recheckMs);
    if (!this.preference && !this.fresh()) void this.measure();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The endpoint for the next connection attempt. The first one waits for a
   * measurement, at most firstConnectWaitMs; later ones never wait.
   */
  async resolve(): Promise<RegionEndpoint> {
    if (this.multiRegion && !this.waited && !this.preference && !this.fresh()) {
      this.waited = true;
      // Stop waiting, not measuring: what arrives later is used from the next attempt on.
      await timed(this.measure(), this.opts.firstConnectWaitMs).catch(() => undefined);
    }
    this.waited = true;
    const next = this.target();
    if (next !== this.current) {
      this.current = next;
      this.failures = 0;
    }
    this.update();
    return this.endpoints.get(next)!;
  }

  /** Pins a region (undefined: automatic, the nearest). A change of region moves the connection now. */
  setPreference(region: string | undefined): void {
    if (region !== undefined && !this.endpoints.has(region)) throw new Error(`Unknown region ${region}`);
    if (region === this.preference) return;
    this.preference = region;
    // Chosen by hand, it deserves a try even if it failed before.
    if (region) this.down.delete(region);
    this.save();
    if (!region && !this.fresh()) void this.measure();
    this.update();
    const to = this.target();
    if (this.current !== undefined && to !== this.current) this.emit('move', { to, reason: 'preference' });
  }

  /** An attempt to `current` opened a socket. */
  opened(): void {
    this.failures = 0;
    this.connected = true;
    if (this.current) this.down.delete(this.current);
    this.update();
  }

  /**
   * A socket to `current` closed. `wasOpen` false and a close the client
   * did not choose: the attempt failed. failoverAfter of them in a row mark
   * the region down, and the next attempt resolves to the next best.
   */
  closed(code: number, wasOpen: boolean): void {
    this.connected = false;
    if (!wasOpen && !CLIENT_CLOSES.has(code) && this.current) {
      if (++this.failures >= this.opts.failoverAfter) {
        this.failures = 0;
        this.down.add(this.current);
      }
    }
    this.update();
  }

  /** Wires a connection: its opens and closes feed the failure count, and a move restarts it. */
  attach(conn: Pick<ReconnectingSocket, 'on' | 'restart'>): () => void {
    const offs = [
      conn.on('open', () => this.opened()),
      conn.on('close', (e) => this.closed(e.code, e.wasOpen)),
      this.on('move', ({ reason }) => conn.restart(`region ${reason}`)),
    ];
    return () => offs.forEach((off) => off());
  }

  /**
   * Every recheckMs: while failed over, check the regions better than the
   * current one, best first, and move to the first healthy one; refresh a
   * stale ranking.
   */
  async recheck(): Promise<void> {
    if (!this.preference && !this.fresh()) void this.measure();
    if (this.checking || this.current === undefined) return;
    const better = this.order().slice(0, this.order().indexOf(this.current)).filter((r) => this.down.has(r));
    if (!better.length) return;
    this.checking = true;
    try {
      for (const region of better) {
        const endpoint = this.endpoints.get(region)!;
        const healthy = await timed((this.opts.check ?? this.probeCheck)(endpoint), this.opts.checkTimeoutMs).catch(() => false);
        if (!healthy) continue;
        this.down.delete(region);
        this.update();
        if (this.target() !== this.current) this.emit('move', { to: this.target(), reason: 'recovered' });
        return;
      }
    } finally {
      this.checking = false;
    }
  }

  // ------------------------------------------------------------ internals

  /** Preference first, then nearest first. */
  private order(): string[] {
    const p = this.preference;
    return p ? [p, ...this.ranking.filter((r) => r !== p)] : [...this.ranking];
  }

  /** The best region not down; with every region down, start over from the best (someone must be tried). */
  private target(): string {
    const order = this.order();
    const up = order.find((r) => !this.down.has(r));
    if (up) return up;
    this.down.clear();
    return order[0]!;
  }

  private fresh(): boolean {
    return this.measuredAt !== undefined && this.opts.now() - this.measuredAt < this.opts.choiceTtlMs;
  }

  private probeCheck: HealthCheck = (endpoint) =>
    this.opts.probe(probeUrl(endpoint), this.opts.probeTimeoutMs).then(
      () => true,
      () => false,
    );

  /** Measures every region at once (each probe bounded); one measurement at a time. */
  private measure(): Promise<void> {
    this.measuring ??= (async () => {
      this.rtt.clear();
      await Promise.all(this.names.map((name) => this.measureOne(name)));
      this.rank();
      this.measuredAt = this.opts.now();
      this.save();
      this.update();
    })().finally(() => (this.measuring = undefined));
    return this.measuring;
  }

  private async measureOne(name: string): Promise<void> {
    const endpoint = this.endpoints.get(name)!;
    for (let i = 0; i < this.opts.probesPerRegion; i++) {
      try {
        // Bounded here too, whatever the probe does, so a measurement always ends.
        const ms = await timed(this.opts.probe(probeUrl(endpoint), this.opts.probeTimeoutMs), this.opts.probeTimeoutMs);
        this.rtt.set(name, Math.min(ms, this.rtt.get(name) ?? Infinity));
        // Partial results count: a first connect that stops waiting goes with the best heard so far.
        this.rank();
      } catch {
        // Unanswered: this region ranks after every region that answered.
      }
    }
  }

  /** Nearest first; regions not heard from keep their config order, after those heard from. */
  private rank(): void {
    const rtt = (r: string) => this.rtt.get(r) ?? Infinity;
    this.ranking = [...this.names].sort((a, b) => rtt(a) - rtt(b) || this.names.indexOf(a) - this.names.indexOf(b));
  }

  private build(): RegionStatus {
    const order = this.order();
    return {
      regions: this.names,
      current: this.current,
      connected: this.connected,
      preference: this.preference,
      preferred: order[0]!,
      nearest: this.measuredAt !== undefined || this.rtt.size ? this.ranking[0] : undefined,
      failedOver: this.current !== undefined && this.current !== order[0] && this.down.has(order[0]!),
      down: this.names.filter((n) => this.down.has(n)),
    };
  }

  /** Publishes a new snapshot only when something in it changed. */
  private update(): void {
    const next = this.build();
    const prev = this.snapshot;
    const same =
      prev.current === next.current &&
      prev.connected === next.connected &&
      prev.preference === next.preference &&
      prev.preferred === next.preferred &&
      prev.nearest === next.nearest &&
      prev.failedOver === next.failedOver &&
      prev.down.join() === next.down.join();
    if (same) return;
    this.snapshot = next;
    this.emit('status', next);
  }

  private load(): Saved {
    try {
      const raw = JSON.parse(this.opts.storage?.getItem(REGION_STORAGE_KEY) ?? 'null') as { preference?: unknown; measured?: { ranking?: unknown; at?: unknown } } | null;
      const saved: Saved = {};
      if (typeof raw?.preference === 'string') saved.preference = raw.preference;
      const m = raw?.measured;
      if (Array.isArray(m?.ranking) && m.ranking.every((r) => typeof r === 'string') && typeof m.at === 'number') {
        saved.measured = { ranking: m.ranking as string[], at: m.at };
      }
      return saved;
    } catch {
      return {};
    }
  }

  private save(): void {
    const saved: Saved = {
      ...(this.preference ? { preference: this.preference } : {}),
      ...(this.measuredAt !== undefined ? { measured: { ranking: this.ranking, at: this.measuredAt } } : {}),
    };
    try {
      this.opts.storage?.setItem(REGION_STORAGE_KEY, JSON.stringify(saved));
    } catch {
      // Private browsing or a full quota: the next visit measures again.
    }
  }
}
