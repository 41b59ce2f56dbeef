/**
 * What every figure shares: the mode and its sizes, the machine, progress
 * output and small timing helpers. Imported first by run.ts, so the process
 * environment below is in place before any SDK client is built.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { LOCAL_CREDENTIALS } from '../local/dynamodb';

Object.assign(process.env, {
  // Node 20 is supported here; the SDK's notice about its 2027 releases is noise in bench output.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // Management-API clients built from the default chain (as the handlers do) find these.
  AWS_REGION: 'local',
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
});

export type Mode = 'quick' | 'full';

/**
 * What local mode's IAM recorder (local/iam.ts) calls the floor's posts
 * (bench/floor.ts): its client comes from deps.ts, so the recorder sees them,
 * and they belong to no Parley function. HandlerLog drops its warnings about them.
 */
export const FLOOR_FUNCTION = 'bench-floor';

/** Every size a figure uses, per mode, in one place. */
export interface Sizes {
  /** Figure 1: `rooms` × `members` online (one room of them measured), and rooms of each `everyone` size that are everyone online. */
  reads: { rooms: number; members: number; sends: number; everyone: number[] };
  fanout: { connections: number; warmRuns: number };
  latency: { roomSizes: number[]; messages: Record<number, number>; senders: number };
  throughput: { rooms: number; members: number; ratesPerS: number[]; stepS: number };
  bundles: { initRuns: number };
  load: { connections: number; rooms: number; holdS: number; ratePerS: number } | null;
  /**
   * Figure 8: a room of `smallRoom` that is everyone online; a room of `room`
   * among `online` connections; `messages` sent one at a time by `senders`
   * in turn; `sessions` connects and `pings` heartbeats metered.
   */
  cost: { smallRoom: number; room: number; online: number; messages: number; senders: number; sessions: number; pings: number };
  /** Distinct Cognito users; every connection is one of them (several tabs each). */
  users: number;
}

export const SIZES: Record<Mode, Sizes> = {
  quick: {
    reads: { rooms: 10, members: 20, sends: 20, everyone: [10, 100] },
    fanout: { connections: 100, warmRuns: 1 },
    latency: { roomSizes: [10, 100], messages: { 10: 30, 100: 25 }, senders: 5 },
    throughput: { rooms: 10, members: 5, ratesPerS: [5, 10, 25, 50, 100], stepS: 1 },
    bundles: { initRuns: 1 },
    load: null,
    cost: { smallRoom: 10, room: 10, online: 100, messages: 10, senders: 5, sessions: 3, pings: 10 },
    users: 5,
  },
  full: {
    reads: { rooms: 10, members: 100, sends: 30, everyone: [10, 100, 1000] },
    fanout: { connections: 1000, warmRuns: 3 },
    latency: { roomSizes: [10, 100, 1000], messages: { 10: 100, 100: 100, 1000: 25 }, senders: 10 },
    throughput: { rooms: 20, members: 10, ratesPerS: [5, 10, 25, 50, 100, 200, 400], stepS: 3 },
    bundles: { initRuns: 3 },
    load: { connections: 1000, rooms: 10, holdS: 60, ratePerS: 5 },
    cost: { smallRoom: 10, room: 100, online: 1000, messages: 40, senders: 5, sessions: 5, pings: 20 },
    users: 10,
  },
};

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1, 5 and 15 minute load averages when the run started: the machine is shared. */
  loadAverage: number[];
}

export function machine(): Machine {
  const cores = cpus();
  return {
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** Progress goes to stderr so stdout stays the results table. */
export function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function deadlineAfter(ms: number): { left(): number; passed(): boolean } {
  const end = Date.now() + ms;
  return { left: () => Math.max(0, end - Date.now()), passed: () => Date.now() >= end };
}

/** Resident memory of a process in MiB, from /proc; undefined where there is no /proc. */
export function rssMiB(pid: number | 'self'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Handlers log failures with console.warn/error. During a measurement those
 * lines are counted (and the first few kept for the notes) instead of
 * flooding the progress output.
 */
export class HandlerLog {
  count = 0;
  readonly samples: string[] = [];
  private saved?: { warn: typeof console.warn; error: typeof console.error };

  capture(): void {
    if (this.saved) return;
    // Handlers log WARN and above outside Lambda (amplify/functions/log.ts), so info needs no filter.
    this.saved = { warn: console.warn, error: console.error };
    const keep = (...args: unknown[]) => {
      // The IAM recorder sees the floor's posts too (bench/floor.ts): they are no Parley function's.
      if (typeof args[0] === 'string' && args[0].startsWith('[iam]') && args[0].includes(`\n  ${FLOOR_FUNCTION} `)) return;
      this.count++;
      if (this.samples.length < 3) this.samples.push(args.map(String).join(' ').slice(0, 200));
    };
    console.warn = keep;
    console.error = keep;
  }

  release(): void {
    if (!this.saved) return;
    console.warn = this.saved.warn;
    console.error = this.saved.error;
    this.saved = undefined;
  }

  /** Counts since the last take, and resets them. */
  take(): { count: number; samples: string[] } {
    const out = { count: this.count, samples: [...this.samples] };
    this.count = 0;
    this.samples.length = 0;
    return out;
  }
}
