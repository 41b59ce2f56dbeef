/**
 * Meters one side of the bench the way AWS would bill it, phase by phase:
 *
 * - API Gateway: every client → gateway message and every message the
 *   gateway wrote to a client (delivered @connections POSTs, its own error
 *   frames), each billed in 32 KB units, from the local gateway's observer
 *   hook; connection minutes from the phase's online clients' open time.
 * - Lambda: every invocation the gateway made (routes and the authorizer),
 *   timed in-process from the handler's start until its promise settled,
 *   rounded up to 1 ms, and billed at its function's memory and architecture.
 * - DynamoDB: the read and write request units DynamoDB Local reports for
 *   every call (capacity.ts's middleware sets ReturnConsumedCapacity TOTAL),
 *   with DynamoDB Local's transactional-write undercount corrected (see
 *   `transactWriteFix`) and failed conditional writes billed as AWS bills them.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { onSdkClient } from '../amplify/core/deps';
import type { GatewayObserver, LocalGateway } from '../local/gateway';
import type { BenchClient } from './client';
import { CapacityMeter } from './capacity';
import { sleep } from './env';
import { PRICES, apiGatewayMessages, lambdaBilledMs, type Architecture } from './prices';

// ---------------------------------------------------------------- functions

export interface FunctionConfig {
  memoryMB: number;
  architecture: Architecture;
}

/**
 * Parley's deployed settings, read from the code that deploys them: each
 * amplify/functions/<name>/resource.ts gives memoryMB, and
 * amplify/realtime/function.ts the architecture every function shares. They
 * sit in closures only a CDK synth would open, so the source is read.
 */
export function parleyFunctionConfigs(names: Iterable<string>): Record<string, FunctionConfig> {
  const read = (path: string) => readFileSync(new URL(`../amplify/${path}`, import.meta.url), 'utf8');
  const arch = /architecture:\s*Architecture\.(ARM_64|X86_64)\b/.exec(read('realtime/function.ts'))?.[1];
  if (!arch) throw new Error('amplify/realtime/function.ts: no `architecture: Architecture.ARM_64|X86_64` found');
  const architecture: Architecture = arch === 'ARM_64' ? 'arm64' : 'x86_64';
  const out: Record<string, FunctionConfig> = {};
  for (const name of new Set(names)) {
    const memory = /memoryMB:\s*(\d+)/.exec(read(`functions/${name}/resource.ts`))?.[1];
    if (!memory) throw new Error(`amplify/functions/${name}/resource.ts: no memoryMB found`);
    out[name] = { memoryMB: Number(memory), architecture };
  }
  return out;
}

/**
 * The tutorial's deployed settings (aws-samples/simple-websockets-chat-app
 * template.yaml; see prices.ts SOURCES): MemorySize 256 on each of its three
 * functions and no Architectures, so Lambda's default, x86_64.
 */
export const BASELINE_FUNCTIONS: Record<string, FunctionConfig> = {
  onconnect: { memoryMB: 256, architecture: 'x86_64' },
  ondisconnect: { memoryMB: 256, architecture: 'x86_64' },
  sendmessage: { memoryMB: 256, architecture: 'x86_64' },
};

/** Which baseline function each of its gateway routes runs (the template's three functions). */
export const BASELINE_ROUTES: Record<string, string> = { $connect: 'onconnect', $disconnect: 'ondisconnect', sendmessage: 'sendmessage' };

// ---------------------------------------------------------------- usage

/** What a phase consumed, in the units AWS bills. */
export interface Usage {
  /** Client → gateway messages, and the 32 KB units they bill as. */
  framesIn: number;
  messagesIn: number;
  /** Gateway → client messages (delivered posts and the gateway's own frames), and their 32 KB units. */
  framesOut: number;
  messagesOut: number;
  /** Frames out by the side's classifier (e.g. Parley's presence frames by room kind). */
  framesOutBy: Record<string, number>;
  connectionMinutes: number;
  /** By function. */
  invocations: Record<string, number>;
  /** By route key ('$authorizer' for the authorizer). */
  invocationsByRoute: Record<string, number>;
  /** By function: the sum of each invocation's duration rounded up to 1 ms. */
  billedMs: Record<string, number>;
  rru: number;
  wru: number;
  dynamoCalls: number;
  /** Calls, and the request units they consumed, by operation (GetItem, TransactWriteItems, …). */
  callsByOperation: Record<string, number>;
  unitsByOperation: Record<string, number>;
  /** Round-trip milliseconds, and items read (ScannedCount for Query and Scan), by operation. */
  msByOperation: Record<string, number>;
  itemsReadByOperation: Record<string, number>;
  failedDynamoCalls: number;
  /** WRU added to DynamoDB Local's TransactWriteItems totals (see transactWriteFix); included in wru. */
  transactCorrectionWru: number;
  /** DynamoDB calls the side's labelCall named, metered apart: `<label>.calls`, `.units`, `.items`, `.ms`. */
  labelled: Record<string, number>;
  seconds: number;
}

export function emptyUsage(): Usage {
  return {
    framesIn: 0, messagesIn: 0, framesOut: 0, messagesOut: 0, framesOutBy: {}, connectionMinutes: 0, invocations: {}, invocationsByRoute: {},
    billedMs: {}, rru: 0, wru: 0, dynamoCalls: 0, callsByOperation: {}, unitsByOperation: {}, msByOperation: {}, itemsReadByOperation: {}, failedDynamoCalls: 0, transactCorrectionWru: 0, labelled: {}, seconds: 0,
  };
}

/** a + k·b, field by field (records key by key). */
export function combine(a: Usage, b: Usage, k = 1): Usage {
  const out = emptyUsage();
  for (const key of Object.keys(out) as (keyof Usage)[]) {
    const x = a[key];
    const y = b[key];
    if (typeof x === 'number' && typeof y === 'number') (out[key] as number) = x + k * y;
    else {
      const rx = x as Record<string, number>;
      const ry = y as Record<string, number>;
      const rec: Record<string, number> = {};
      for (const name of new Set([...Object.keys(rx), ...Object.keys(ry)])) rec[name] = (rx[name] ?? 0) + k * (ry[name] ?? 0);
      (out[key] as Record<string, number>) = rec;
    }
  }
  return out;
}

/** Usage × k (per message: k = 1 / messages). */
export const scaled = (u: Usage, k: number): Usage => combine(emptyUsage(), u, k);

const sum = (r: Record<string, number>) => Object.values(r).reduce((s, x) => s + x, 0);
export const totalInvocations = (u: Usage) => sum(u.invocations);
export const totalBilledMs = (u: Usage) => sum(u.billedMs);

// ---------------------------------------------------------------- cost

export interface Cost {
  apiMessages: number;
  connectionMinutes: number;
  lambdaRequests: number;
  lambdaDuration: number;
  dynamoReads: number;
  dynamoWrites: number;
  total: number;
}

export const COST_PARTS: readonly { key: Exclude<keyof Cost, 'total'>; label: string }[] = [
  { key: 'apiMessages', label: 'API Gateway messages' },
  { key: 'connectionMinutes', label: 'connection minutes' },
  { key: 'lambdaRequests', label: 'Lambda requests' },
  { key: 'lambdaDuration', label: 'Lambda duration' },
  { key: 'dynamoReads', label: 'DynamoDB reads' },
  { key: 'dynamoWrites', label: 'DynamoDB writes' },
];

/** Dollars, at PRICES, for `u` run on `functions`. */
export function costOf(u: Usage, functions: Record<string, FunctionConfig>): Cost {
  const M = 1e6;
  let gbSeconds = 0;
  for (const [fn, ms] of Object.entries(u.billedMs)) {
    const config = functions[fn];
    if (!config) throw new Error(`no memory/architecture for function "${fn}"`);
    gbSeconds += (ms / 1000) * (config.memoryMB / 1024) * PRICES.lambda.perGbSecond[config.architecture];
  }
  const c = {
    apiMessages: ((u.messagesIn + u.messagesOut) / M) * PRICES.apiGateway.perMillionMessages,
    connectionMinutes: (u.connectionMinutes / M) * PRICES.apiGateway.perMillionConnectionMinutes,
    lambdaRequests: (totalInvocations(u) / M) * PRICES.lambda.perMillionRequests,
    lambdaDuration: gbSeconds,
    dynamoReads: (u.rru / M) * PRICES.dynamodb.perMillionReadRequestUnits,
    dynamoWrites: (u.wru / M) * PRICES.dynamodb.perMillionWriteRequestUnits,
  };
  return { ...c, total: Object.values(c).reduce((s, x) => s + x, 0) };
}

// ---------------------------------------------------------------- DynamoDB Local's transactional writes

type AttributeValue = {
  S?: string; N?: string; B?: string; BOOL?: boolean; NULL?: boolean;
  SS?: string[]; NS?: string[]; BS?: string[]; L?: AttributeValue[]; M?: Record<string, AttributeValue>;
};

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
/** A number: about one byte per two significant digits, plus one. */
const numberBytes = (n: string) => Math.ceil(n.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length / 2) + 1;

/** DynamoDB's size of a value on the wire (AttributeValue JSON), by its documented rules. */
function valueBytes(v: AttributeValue): number {
  if (v.S !== undefined) return utf8(v.S);
  if (v.N !== undefined) return numberBytes(v.N);
  if (v.B !== undefined) return Buffer.from(v.B, 'base64').length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS) return v.SS.reduce((s, x) => s + utf8(x), 0);
  if (v.NS) return v.NS.reduce((s, x) => s + numberBytes(x), 0);
  if (v.BS) return v.BS.reduce((s, x) => s + Buffer.from(x, 'base64').length, 0);
  if (v.L) return 3 + v.L.reduce((s, x) => s + 1 + valueBytes(x), 0);
  if (v.M) return 3 + Object.entries(v.M).reduce((s, [k, x]) => s + utf8(k) + 1 + valueBytes(x), 0);
  return 0;
}

export const itemBytes = (item: Record<string, AttributeValue>) => Object.entries(item).reduce((s, [k, v]) => s + utf8(k) + valueBytes(v), 0);
const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / PRICES.dynamodb.writeUnitBytes));

interface WireRequest {
  TransactItems?: Record<string, { TableName?: string; Item?: Record<string, AttributeValue> }>[];
  TableName?: string;
  Item?: Record<string, AttributeValue>;
}

/**
 * WRU per table that a TransactWriteItems call costs in DynamoDB: two per
 * KB of each item. A Put's size is its item's; an Update, Delete or
 * ConditionCheck is counted as one KB (its stored size is not in the request).
 */
function transactEstimate(request: WireRequest): Map<string, number> {
  const perTable = new Map<string, number>();
  for (const entry of request.TransactItems ?? []) {
    for (const [kind, body] of Object.entries(entry)) {
      const table = body.TableName ?? '?';
      const units = 2 * (kind === 'Put' && body.Item ? writeUnits(itemBytes(body.Item)) : 1);
      perTable.set(table, (perTable.get(table) ?? 0) + units);
    }
  }
  return perTable;
}

export interface TransactFixCounters {
  correctionWru: number;
  /** Calls a side's `labelCall` named: `<label>.calls`, `.units`, `.items` (items read), `.ms` (round trip). */
  labelled: Record<string, number>;
  /** WRU that failed writes are billed in AWS (a failed condition still consumes the write). */
  failedWru: number;
}

const FIX_NAME = 'benchTransactWriteCapacity';
const decoder = new TextDecoder();
/** The serialized request's JSON: the SDK hands the build step a string or bytes, depending on its version. */
const bodyText = (body: unknown): string | undefined =>
  typeof body === 'string' ? body : body instanceof Uint8Array ? decoder.decode(body) : undefined;
/** The name capacity.ts gives its middleware. */
const METER_NAME = 'benchConsumedCapacity';

/**
 * DynamoDB Local doubles transactional writes (2 WRU per KB per item) but,
 * within one table, counts items of the same size only once: two 1 KB Puts
 * in one TransactWriteItems report 2 WRU, not 4; three report 2, not 6 (a
 * 1 KB and a 2 KB Put report 6, correctly). This middleware, on the build
 * step where the request is serialized, computes each table's due from the
 * request and raises DynamoDB Local's figure to it where it is lower, so
 * capacity.ts's meter (outermost) records the corrected figure. It also
 * adds what failed writes cost: a failed condition on a Put, Update or
 * Delete is billed as the write (its Put size, else 1 WRU); a cancelled
 * transaction is counted at its items' due (an estimate: AWS does not
 * return capacity with the error).
 */
function transactWriteFix(client: DynamoDBClient, counters: TransactFixCounters, labelCall?: MeterOptions['labelCall']): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown } | undefined;
      const target = Object.entries(request?.headers ?? {}).find(([k]) => k.toLowerCase() === 'x-amz-target')?.[1] ?? '';
      const operation = target.slice(target.lastIndexOf('.') + 1);
      const body = bodyText(request?.body);
      const label = labelCall && body !== undefined ? labelCall(operation, body) : undefined;
      const t0 = performance.now();
      const writes = ['TransactWriteItems', 'PutItem', 'UpdateItem', 'DeleteItem'].includes(operation);
      let wire: WireRequest = {};
      if (writes && body !== undefined) {
        try {
          wire = JSON.parse(body) as WireRequest;
        } catch {
          wire = {};
        }
      }
      try {
        const result = await next(args);
        if (operation === 'TransactWriteItems') {
          const due = transactEstimate(wire);
          const reported = (result.output as { ConsumedCapacity?: { TableName?: string; CapacityUnits?: number }[] }).ConsumedCapacity ?? [];
          for (const c of reported) {
            const want = due.get(c.TableName ?? '?') ?? 0;
            if (want > (c.CapacityUnits ?? 0)) {
              counters.correctionWru += want - (c.CapacityUnits ?? 0);
              c.CapacityUnits = want;
            }
          }
        }
        if (label) {
          const out = result.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[]; ScannedCount?: number; Count?: number };
          const add = (key: string, x: number) => void (counters.labelled[`${label}.${key}`] = (counters.labelled[`${label}.${key}`] ?? 0) + x);
          add('calls', 1);
          add('units', [out.ConsumedCapacity ?? []].flat().reduce((s, c) => s + (c.CapacityUnits ?? 0), 0));
          add('items', out.ScannedCount ?? out.Count ?? 0);
          add('ms', performance.now() - t0);
        }
        return result;
      } catch (err) {
        const name = err instanceof Error ? err.name : '';
        if (name === 'ConditionalCheckFailedException') counters.failedWru += wire.Item ? writeUnits(itemBytes(wire.Item)) : 1;
        else if (name === 'TransactionCanceledException') counters.failedWru += [...transactEstimate(wire).values()].reduce((s, x) => s + x, 0);
        throw err;
      }
    },
    { step: 'build', name: FIX_NAME },
  );
}

// ---------------------------------------------------------------- the meter

export interface MeterOptions {
  name: string;
  gateway: LocalGateway;
  /** The function each route key (and '$authorizer') runs as. */
  functionOf: (route: string) => string;
  /** Labels a frame out for `framesOutBy`; unlabelled frames are 'other'. */
  classify?: (frame: string) => string;
  /** Names DynamoDB calls to meter apart (in Usage.labelled), from the operation and the serialized request. */
  labelCall?: (operation: string, body: string) => string | undefined;
}

/**
 * Meters one side: attach its DynamoDB clients, then `start` and `stop`
 * around each phase. While it lives it observes the side's gateway; `close`
 * lets go of the gateway and the clients.
 */
export class SideMeter {
  private readonly capacity = new CapacityMeter();
  private readonly fix: TransactFixCounters = { correctionWru: 0, failedWru: 0, labelled: {} };
  private readonly clients = new Set<DynamoDBClient>();
  private inFlight = 0;
  private recording = false;
  /** Invocations that ended while recording, by route key. */
  private ended = new Map<string, number>();
  private usage = emptyUsage();
  private phase?: { startedAt: number; online: { client: BenchClient; closedAt?: number }[] };

  constructor(private readonly opts: MeterOptions) {
    const observer: GatewayObserver = {
      messageIn: (_id, bytes) => {
        if (!this.recording) return;
        this.usage.framesIn++;
        this.usage.messagesIn += apiGatewayMessages(bytes);
      },
      messageOut: (_id, data) => {
        if (!this.recording) return;
        this.usage.framesOut++;
        this.usage.messagesOut += apiGatewayMessages(typeof data === 'string' ? Buffer.byteLength(data) : data.length);
        if (opts.classify) {
          const label = opts.classify(typeof data === 'string' ? data : data.toString('utf8'));
          this.usage.framesOutBy[label] = (this.usage.framesOutBy[label] ?? 0) + 1;
        }
      },
      invocationStarted: () => void this.inFlight++,
      invocationEnded: (route, ms) => {
        this.inFlight--;
        if (!this.recording) return;
        this.ended.set(route, (this.ended.get(route) ?? 0) + 1);
        const fn = opts.functionOf(route);
        this.usage.invocations[fn] = (this.usage.invocations[fn] ?? 0) + 1;
        this.usage.invocationsByRoute[route] = (this.usage.invocationsByRoute[route] ?? 0) + 1;
        this.usage.billedMs[fn] = (this.usage.billedMs[fn] ?? 0) + lambdaBilledMs(ms);
      },
    };
    opts.gateway.setObserver(observer);
  }

  get name(): string {
    return this.opts.name;
  }

  /** Meters every call `client` makes from now on. */
  attachDynamo(client: DynamoDBClient): void {
    if (this.clients.has(client)) return;
    this.clients.add(client);
    this.capacity.attach(client);
    transactWriteFix(client, this.fix, this.opts.labelCall);
  }

  /** Until no invocation is running (handlers may outlive the frames they sent), at most `ms`. */
  async quiesce(ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < end) await sleep(10);
    await sleep(20);
  }

  /** Until `n` invocations of `route` have ended in this phase (a $disconnect runs after the socket has closed), at most `ms`. */
  async waitForRoute(route: string, n: number, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while ((this.ended.get(route) ?? 0) < n) {
      if (Date.now() >= end) throw new Error(`${this.opts.name}: ${this.ended.get(route) ?? 0} of ${n} ${route} invocations ended within ${ms} ms`);
      await sleep(10);
    }
  }

  /** Starts a phase in which `online` are the scenario's connections (their open time is billed). */
  async start(online: readonly BenchClient[]): Promise<void> {
    await this.quiesce();
    this.capacity.take();
    this.fix.correctionWru = this.fix.failedWru = 0;
    this.fix.labelled = {};
    this.usage = emptyUsage();
    this.ended.clear();
    const startedAt = performance.now();
    const tracked = online.filter((c) => c.open).map((client) => ({ client }) as { client: BenchClient; closedAt?: number });
    for (const t of tracked) void t.client.closed.then(() => (t.closedAt ??= performance.now()));
    this.phase = { startedAt, online: tracked };
    this.recording = true;
  }

  /** Ends the phase once every invocation it caused has finished, and says what it used. */
  async stop(): Promise<Usage> {
    await this.quiesce();
    const stoppedAt = performance.now();
    this.recording = false;
    const phase = this.phase;
    if (!phase) throw new Error(`${this.opts.name}: stop() without start()`);
    this.phase = undefined;
    const calls = this.capacity.take();
    const u = this.usage;
    u.seconds = (stoppedAt - phase.startedAt) / 1000;
    u.connectionMinutes = phase.online.reduce((s, t) => s + Math.max(0, Math.min(t.closedAt ?? stoppedAt, stoppedAt) - phase.startedAt), 0) / 60_000;
    u.rru = calls.filter((c) => c.read).reduce((s, c) => s + c.capacityUnits, 0);
    u.wru = calls.filter((c) => !c.read).reduce((s, c) => s + c.capacityUnits, 0) + this.fix.failedWru;
    u.dynamoCalls = calls.length;
    for (const c of calls) {
      const op = c.command.replace(/Command$/, '');
      u.callsByOperation[op] = (u.callsByOperation[op] ?? 0) + 1;
      u.unitsByOperation[op] = (u.unitsByOperation[op] ?? 0) + c.capacityUnits;
      u.msByOperation[op] = (u.msByOperation[op] ?? 0) + c.ms;
      u.itemsReadByOperation[op] = (u.itemsReadByOperation[op] ?? 0) + c.itemsRead;
    }
    u.failedDynamoCalls = calls.filter((c) => c.error).length;
    u.transactCorrectionWru = this.fix.correctionWru;
    u.labelled = { ...this.fix.labelled };
    return u;
  }

  close(): void {
    this.recording = false;
    this.opts.gateway.setObserver(undefined);
    for (const client of this.clients) {
      client.middlewareStack.remove(METER_NAME);
      client.middlewareStack.remove(FIX_NAME);
    }
    this.clients.clear();
    if (parleyTarget === this) parleyTarget = undefined;
  }
}

// Parley's handlers build their DynamoDB clients themselves (amplify/core/deps.ts); its hook hands them over.
const parleyClients = new Set<DynamoDBClient>();
let parleyTarget: SideMeter | undefined;
let hooked = false;

/** Meters every DynamoDB client Parley's handlers have built or will build, until `meter.close()`. */
export function meterParleyDynamo(meter: SideMeter): void {
  parleyTarget = meter;
  if (!hooked) {
    hooked = true;
    onSdkClient((client) => {
      if (!(client instanceof DynamoDBClient)) return;
      parleyClients.add(client);
      parleyTarget?.attachDynamo(client);
    });
  }
  for (const client of parleyClients) meter.attachDynamo(client);
}
