/**
 * What the gateway's parts share: resolved options, the open sockets, the
 * counters, the timers, and Lambda invocation with its integration timeout.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { LIMITS } from '../../amplify/core/protocol';
import { STAGE_NAME } from '../../amplify/realtime/defaults';
import { realScheduler, Timers } from './limits';
import type {
  GatewayEvent,
  GatewayObserver,
  GatewayOptions,
  GatewayRequestContext,
  GatewaySocket,
  LambdaContextLike,
  LambdaHandler,
  SourceIdentity,
} from './types';

/** A refused handshake or request: the HTTP status, message and x-amzn-ErrorType API Gateway answers with. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorType?: string,
  ) {
    super(message);
  }
}
export class IntegrationTimeout extends Error {}

/** API Gateway's ids (connection, request, message) are 16 base64 characters ending in '=', e.g. L0SM9cOFvHcCIhw=. */
export const awsId = () => randomBytes(11).toString('base64');

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** requestTime uses the access-log format: 09/Feb/2024:18:11:43 +0000. */
function clfTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export type ResolvedOptions = ReturnType<typeof resolveOptions>;

function resolveOptions(options: GatewayOptions) {
  // `??` rather than spreading, so an explicit undefined (from a partial config) still gets the default.
  return {
    host: options.host ?? '127.0.0.1',
    stage: options.stage ?? STAGE_NAME,
    apiId: options.apiId ?? 'local',
    idleTimeoutMs: options.idleTimeoutMs ?? LIMITS.idleTimeoutMs,
    maxConnectionMs: options.maxConnectionMs ?? LIMITS.maxConnectionMs,
    maxFrameBytes: options.maxFrameBytes ?? LIMITS.maxFrameBytes,
    maxMessageBytes: options.maxMessageBytes ?? LIMITS.maxMessageBytes,
    integrationTimeoutMs: options.integrationTimeoutMs ?? 29_000,
    handshakeDelayMs: options.handshakeDelayMs ?? 0,
    postLatencyMs: options.postLatencyMs ?? 0,
    maxConcurrentManagementCalls: options.maxConcurrentManagementCalls ?? Infinity,
    log: options.log ?? (() => undefined),
  };
}

/** The state every part of one gateway works on. */
export interface GatewayCore {
  readonly o: ResolvedOptions;
  readonly routes: Record<string, LambdaHandler>;
  readonly connections: Map<string, GatewaySocket>;
  readonly counters: { posts: number; throttled: number; gone: number; invocations: Record<string, number> };
  readonly timers: Timers;
  /** Work in flight (invocations, handshakes), each removed as it settles: what close() and settled() wait for. */
  readonly running: Set<Promise<unknown>>;
  observer: GatewayObserver | undefined;
  managementFault: ((connectionId: string) => number | undefined) | undefined;
  managementInFlight: number;
  /** host:port, known once the server listens. */
  domainName: string;
  /** Set by close(): new handshakes are refused, late ones cut off. */
  closing: boolean;
  track(p: Promise<unknown>): void;
  requestContext(id: string, routeKey: string, eventType: GatewayRequestContext['eventType'], identity: SourceIdentity, connectedAt: number): GatewayRequestContext;
  invoke(name: string, handler: LambdaHandler, event: GatewayEvent): Promise<unknown>;
}

export function createCore(options: GatewayOptions): GatewayCore {
  const o = resolveOptions(options);
  const timers = new Timers(options.scheduler ?? realScheduler);
  const running = new Set<Promise<unknown>>();
  const core: GatewayCore = {
    o,
    routes: options.routes,
    connections: new Map(),
    counters: { posts: 0, throttled: 0, gone: 0, invocations: {} },
    timers,
    running,
    observer: options.observer,
    managementFault: undefined,
    managementInFlight: 0,
    domainName: '',
    closing: false,

    track(p) {
      const settled = p.then(
        () => undefined,
        () => undefined,
      );
      running.add(settled);
      void settled.then(() => running.delete(settled));
    },

    requestContext(id, routeKey, eventType, identity, connectedAt) {
      const now = Date.now();
      const requestId = awsId();
      return {
        routeKey, eventType, extendedRequestId: requestId, requestTime: clfTime(now), messageDirection: 'IN', stage: o.stage, connectedAt,
        requestTimeEpoch: now, identity, requestId, domainName: core.domainName, connectionId: id, apiId: o.apiId,
      } satisfies GatewayRequestContext;
    },

    /** One Lambda invocation, bounded by the integration timeout; the handler itself runs on, as in Lambda. */
    invoke(name, handler, event) {
      core.counters.invocations[name] = (core.counters.invocations[name] ?? 0) + 1;
      const deadline = Date.now() + o.integrationTimeoutMs;
      const fn = `local-${name.replace(/\W/g, '')}`;
      const context: LambdaContextLike = {
        callbackWaitsForEmptyEventLoop: true, functionName: fn, functionVersion: '$LATEST', memoryLimitInMB: '1024',
        invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${fn}`, awsRequestId: randomUUID(),
        logGroupName: `/aws/lambda/${fn}`, logStreamName: 'local', getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        done: () => undefined, fail: () => undefined, succeed: () => undefined,
      };
      // The observer at the start hears the end too, even if it is replaced meanwhile.
      const watching = core.observer;
      watching?.invocationStarted?.(name);
      const started = performance.now();
      const work = Promise.resolve().then(() => handler(event, context));
      if (watching?.invocationEnded) {
        const ended = (ok: boolean) => watching.invocationEnded?.(name, performance.now() - started, ok);
        void work.then(
          () => ended(true),
          () => ended(false),
        );
      }
      core.track(work);
      let stop: (() => void) | undefined;
      const timeout = new Promise<never>((_, reject) => {
        stop = timers.later(o.integrationTimeoutMs, () => reject(new IntegrationTimeout(`${name} timed out after ${o.integrationTimeoutMs} ms`)));
      });
      return Promise.race([work, timeout]).finally(() => stop?.());
    },
  };
  return core;
}
