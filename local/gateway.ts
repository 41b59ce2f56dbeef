/**
 * A local stand-in for an API Gateway v2 WebSocket API with Lambda proxy
 * integrations. It runs the real handlers in this process and behaves as API
 * Gateway does wherever a handler or a client can tell: the $connect REQUEST
 * authorizer and its policy, event shapes, route selection on
 * $request.body.action, the @connections management API (the real SDK client
 * talks to it), frame and message quotas, subprotocol negotiation through
 * $connect, the idle timeout and the connection cap.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Context } from 'aws-lambda';
import { WebSocket, WebSocketServer } from 'ws';
import { LIMITS } from '../amplify/core/protocol';

// ---------------------------------------------------------------- types

export type LambdaContextLike = Context;
export type AuthorizerContextValue = string | number | boolean;

export interface Identity {
  sourceIp: string;
  userAgent: string;
}

/** What every route sees in requestContext.authorizer: the authorizer's principal and its flattened context. */
export interface RequestAuthorizerContext {
  principalId: string;
  integrationLatency: number;
  [key: string]: AuthorizerContextValue;
}

export interface WebSocketRequestContext {
  routeKey: string;
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
  extendedRequestId: string;
  requestTime: string;
  messageDirection: 'IN';
  stage: string;
  connectedAt: number;
  requestTimeEpoch: number;
  identity: Identity;
  requestId: string;
  domainName: string;
  connectionId: string;
  apiId: string;
  /** MESSAGE events only. */
  messageId?: string;
  /** Absent when the API has no authorizer. */
  authorizer?: RequestAuthorizerContext;
  disconnectStatusCode?: number;
  disconnectReason?: string;
}

export interface WebSocketEvent {
  requestContext: WebSocketRequestContext;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  /** Absent, as in API Gateway, when the URL has no query string. */
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
  body?: string;
  isBase64Encoded: boolean;
}

export interface AuthorizerEvent {
  type: 'REQUEST';
  methodArn: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters: Record<string, string>;
  multiValueQueryStringParameters: Record<string, string[]>;
  stageVariables: Record<string, string>;
  requestContext: WebSocketRequestContext;
}

export interface PolicyStatement {
  Action: string | string[];
  Effect: 'Allow' | 'Deny';
  Resource: string | string[];
}
export interface AuthorizerResult {
  principalId: string;
  policyDocument: { Version: string; Statement: PolicyStatement[] };
  context?: Record<string, AuthorizerContextValue>;
}

export type GatewayEvent = WebSocketEvent | AuthorizerEvent;
/** Method syntax makes the event parameter bivariant, so a handler typed for one event shape fits without a cast. */
export type LambdaHandler = { handle(event: GatewayEvent, context: LambdaContextLike): Promise<unknown> }['handle'];

export interface GatewayOptions {
  host?: string;
  port?: number;
  stage?: string;
  apiId?: string;
  routes: Record<string, LambdaHandler>;
  authorizer?: { handler: LambdaHandler; identitySource?: string };
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  maxFrameBytes?: number;
  maxMessageBytes?: number;
  integrationTimeoutMs?: number;
  /**
   * Injected time between $connect answering and the socket being usable: the
   * window in which AWS answers a post to the connection with 410.
   */
  handshakeDelayMs?: number;
  /** Injected delay for every @connections call, to model network distance in benchmarks. */
  postLatencyMs?: number;
  /** Beyond this many concurrent @connections calls, answer 429 as a throttled account would. */
  maxConcurrentManagementCalls?: number;
  /** Told what API Gateway and Lambda would meter (see GatewayObserver); none by default. */
  observer?: GatewayObserver;
  log?: (line: string) => void;
}

/**
 * What API Gateway and Lambda meter, as it happens: messages in and out and
 * each invocation's run time. The bench's cost figure listens; without an
 * observer (the default) nothing is measured and nothing behaves differently.
 */
export interface GatewayObserver {
  /** A message a client sent, as it arrived (before routing). */
  messageIn?(connectionId: string, bytes: number): void;
  /** A message written to a client: a delivered @connections POST, or the gateway's own error frame. */
  messageOut?(connectionId: string, data: Buffer | string, source: 'post' | 'gateway'): void;
  /** A Lambda invocation began: `route` is the route key, or '$authorizer'. */
  invocationStarted?(route: string): void;
  /** It settled: `ms` from the handler's start until its promise settled (not bounded by the integration timeout). */
  invocationEnded?(route: string, ms: number, ok: boolean): void;
}

export interface ConnectionInfo {
  connectionId: string;
  connectedAt: number;
  lastActiveAt: number;
  identity: Identity;
  authorizer: Record<string, AuthorizerContextValue>;
}

export interface LocalGateway {
  url: string;
  managementEndpoint: string;
  port: number;
  connectionCount(): number;
  listConnections(): ConnectionInfo[];
  stats(): { posts: number; throttled: number; gone: number; invocations: Record<string, number> };
  /** Abrupt drop (socket destroyed, 1006), as when a client's network goes away. */
  dropConnection(connectionId: string): boolean;
  setPostLatency(ms: number): void;
  /** Fault injection: a status for @connections calls to a connection, or undefined to behave normally. */
  setManagementFault(fault: ((connectionId: string) => number | undefined) | undefined): void;
  /** Replaces the observer (undefined: none). */
  setObserver(observer: GatewayObserver | undefined): void;
  /**
   * Resolves once no invocation or handshake is in flight: a barrier for
   * tests, which then need not sleep to learn that nothing more will happen.
   */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** What is known once $connect has succeeded. */
interface Session {
  connectionId: string;
  connectedAt: number;
  identity: Identity;
  headers: HeaderMaps;
  authorizer?: RequestAuthorizerContext;
}

interface Connection extends Session {
  ws: WebSocket;
  lastActiveAt: number;
  /** Set when the gateway decided to close: later messages are not routed, @connections answers 410. */
  closing?: { code: number; reason: string };
  idle?: NodeJS.Timeout;
  cap?: NodeJS.Timeout;
  kill?: NodeJS.Timeout;
  disconnected: Promise<void>;
}

interface HeaderMaps {
  single: Record<string, string>;
  multi: Record<string, string[]>;
}

// ---------------------------------------------------------------- helpers

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorType?: string,
  ) {
    super(message);
  }
}
class IntegrationTimeout extends Error {}

/** API Gateway's ids (connection, request, message) are 16 base64 characters ending in '=', e.g. L0SM9cOFvHcCIhw=. */
const awsId = () => randomBytes(11).toString('base64');

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** requestTime uses the access-log format: 09/Feb/2024:18:11:43 +0000. */
function clfTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** Header names keep the client's casing, as API Gateway passes them; the single-value map keeps the last value. */
function headerMaps(req: IncomingMessage): HeaderMaps {
  const out: HeaderMaps = { single: {}, multi: {} };
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const [name, value] = [req.rawHeaders[i]!, req.rawHeaders[i + 1]!];
    out.single[name] = value;
    (out.multi[name] ??= []).push(value);
  }
  return out;
}

function queryMaps(url: URL): HeaderMaps {
  const out: HeaderMaps = { single: {}, multi: {} };
  for (const [k, v] of url.searchParams) {
    out.single[k] = v;
    (out.multi[k] ??= []).push(v);
  }
  return out;
}

/** IAM resource and action patterns: `*` matches any run of characters, `?` any one. */
function wildcard(pattern: string, value: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(value);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks an authorizer's output against the method ARN; explicit Deny wins, as in IAM. */
function evaluatePolicy(out: unknown, methodArn: string): { principalId: string; context: Record<string, AuthorizerContextValue> } {
  const statements = isRecord(out) && isRecord(out.policyDocument) ? out.policyDocument.Statement : undefined;
  const context = isRecord(out) ? (out.context ?? {}) : undefined;
  // A malformed result is API Gateway's AuthorizerConfigurationException: 500, not 403.
  if (!isRecord(out) || typeof out.principalId !== 'string' || !Array.isArray(statements) || !isRecord(context)) {
    throw new Refusal(500, 'Internal Server Error', 'AuthorizerConfigurationException');
  }
  if (!Object.values(context).every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
    throw new Refusal(500, 'Internal Server Error', 'AuthorizerConfigurationException');
  }
  const list = (v: unknown): string[] => (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
  const applies = (s: unknown, effect: string) =>
    isRecord(s) &&
    s.Effect === effect &&
    list(s.Action).some((a) => wildcard(a, 'execute-api:Invoke')) &&
    list(s.Resource).some((r) => wildcard(r, methodArn));
  if (statements.some((s) => applies(s, 'Deny')) || !statements.some((s) => applies(s, 'Allow'))) {
    throw new Refusal(403, 'Forbidden', 'AccessDeniedException');
  }
  return { principalId: out.principalId, context: context as Record<string, AuthorizerContextValue> };
}

/** A $connect result's status: a bare value or an object without statusCode counts as 200. */
function connectStatus(result: unknown): number {
  if (!isRecord(result) || result.statusCode === undefined) return 200;
  const s = Number(result.statusCode);
  return Number.isInteger(s) && s >= 100 && s <= 599 ? s : 502;
}

function resultHeader(result: unknown, name: string): string | undefined {
  if (!isRecord(result) || !isRecord(result.headers)) return undefined;
  const hit = Object.entries(result.headers).find(([k]) => k.toLowerCase() === name);
  return typeof hit?.[1] === 'string' ? hit[1] : undefined;
}

/**
 * Watches the raw bytes beside `ws` (which only limits whole messages) and
 * trips on the first frame whose payload exceeds the limit. Headers may be
 * split across chunks; payload bytes are skipped, never copied.
 */
function frameGuard(limit: number, onOversize: () => void): (chunk: Buffer) => void {
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

// ---------------------------------------------------------------- gateway

export async function startGateway(options: GatewayOptions): Promise<LocalGateway> {
  // `??` rather than spreading, so an explicit undefined (from a partial config) still gets the default.
  const o = {
    host: options.host ?? '127.0.0.1',
    stage: options.stage ?? 'production',
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
  const { routes } = options;
  const connections = new Map<string, Connection>();
  const counters = { posts: 0, throttled: 0, gone: 0, invocations: {} as Record<string, number> };
  let managementInFlight = 0;
  let managementFault: ((connectionId: string) => number | undefined) | undefined;
  let observer = options.observer;
  let domainName = '';
  let closing = false;

  // Every timer and every piece of in-flight work is tracked, so close() can leave nothing behind.
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => (timers.delete(t), fn()), ms);
    timers.add(t);
    return t;
  };
  const cancel = (t: NodeJS.Timeout | undefined) => {
    if (!t) return;
    clearTimeout(t);
    timers.delete(t);
  };
  const sleep = (ms: number) => new Promise<void>((resolve) => later(ms, resolve));
  const running = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    running.add(settled);
    void settled.then(() => running.delete(settled));
  };

  const requestContext = (id: string, routeKey: string, eventType: WebSocketRequestContext['eventType'], identity: Identity, connectedAt: number) => {
    const now = Date.now();
    const requestId = awsId();
    return {
      routeKey, eventType, extendedRequestId: requestId, requestTime: clfTime(now), messageDirection: 'IN', stage: o.stage, connectedAt,
      requestTimeEpoch: now, identity, requestId, domainName, connectionId: id, apiId: o.apiId,
    } satisfies WebSocketRequestContext;
  };

  /** One Lambda invocation, bounded by the integration timeout; the handler itself runs on, as in Lambda. */
  const invoke = (name: string, handler: LambdaHandler, event: GatewayEvent): Promise<unknown> => {
    counters.invocations[name] = (counters.invocations[name] ?? 0) + 1;
    const deadline = Date.now() + o.integrationTimeoutMs;
    const fn = `local-${name.replace(/\W/g, '')}`;
    const context: LambdaContextLike = {
      callbackWaitsForEmptyEventLoop: true, functionName: fn, functionVersion: '$LATEST', memoryLimitInMB: '1024',
      invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${fn}`, awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${fn}`, logStreamName: 'local', getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined, fail: () => undefined, succeed: () => undefined,
    };
    // The observer at the start hears the end too, even if it is replaced meanwhile.
    const watching = observer;
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
    track(work);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = later(o.integrationTimeoutMs, () => reject(new IntegrationTimeout(`${name} timed out after ${o.integrationTimeoutMs} ms`)));
    });
    return Promise.race([work, timeout]).finally(() => cancel(timer));
  };

  const http = createServer((req, res) => void management(req, res).catch((err: unknown) => o.log(`management: ${String(err)}`)));
  // The subprotocol is whatever $connect answered with, never simply the client's first offer.
  const protocols = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxMessageBytes, handleProtocols: (_offered, req) => protocols.get(req) ?? false });

  // ---------------------------------------------------------------- $connect
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Until ws takes the socket over nothing else listens for its errors (a client hanging up mid-$connect).
    socket.on('error', (err) => o.log(`upgrade socket: ${err.message}`));
    track(upgrade(req, socket, head));
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    try {
      const url = new URL(req.url ?? '/', 'http://gateway');
      if (closing) throw new Refusal(503, 'Service Unavailable');
      if (url.pathname !== `/${o.stage}` && url.pathname !== `/${o.stage}/`) throw new Refusal(403, 'Forbidden', 'ForbiddenException');
      if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !req.headers['sec-websocket-key']) throw new Refusal(400, 'Bad Request');
      const id = awsId();
      const connectedAt = Date.now();
      const identity = { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: req.headers['user-agent'] ?? '' };
      const headers = headerMaps(req);
      const query = queryMaps(url);
      // The authorizer and $connect serve one request, so they share its requestId.
      const context = requestContext(id, '$connect', 'CONNECT', identity, connectedAt);
      const authorizer = options.authorizer ? await authorize(options.authorizer, req, url, context, headers, query) : undefined;
      const route = routes.$connect;
      if (route) {
        const event: WebSocketEvent = {
          headers: headers.single,
          multiValueHeaders: headers.multi,
          ...(url.search ? { queryStringParameters: query.single, multiValueQueryStringParameters: query.multi } : {}),
          requestContext: { ...context, ...(authorizer ? { authorizer } : {}) },
          isBase64Encoded: false,
        };
        let result: unknown;
        try {
          result = await invoke('$connect', route, event);
        } catch (err) {
          o.log(`$connect failed: ${String(err)}`);
          throw err instanceof IntegrationTimeout ? new Refusal(504, 'Endpoint request timed out') : new Refusal(502, 'Internal server error');
        }
        const status = connectStatus(result);
        if (status < 200 || status > 299) throw new Refusal(status, STATUS_CODES[status] ?? 'Refused');
        const protocol = resultHeader(result, 'sec-websocket-protocol');
        if (protocol) protocols.set(req, protocol);
      }
      if (o.handshakeDelayMs > 0) await sleep(o.handshakeDelayMs);
      const session: Session = { connectionId: id, connectedAt, identity, headers, ...(authorizer ? { authorizer } : {}) };
      if (socket.destroyed || !socket.readable || !socket.writable || closing) {
        // $connect succeeded but the client left (or we are shutting down): its $disconnect still runs.
        socket.destroy();
        await disconnect(session, 1006, 'Connection was closed abnormally');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => accept(session, ws, socket));
      o.log(`connected ${id}`);
    } catch (err) {
      const r = err instanceof Refusal ? err : new Refusal(500, 'Internal Server Error');
      if (!(err instanceof Refusal)) o.log(`upgrade failed: ${String(err)}`);
      const body = JSON.stringify({ message: r.message });
      const type = r.errorType ? `x-amzn-ErrorType: ${r.errorType}\r\n` : '';
      socket.end(
        `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\nContent-Type: application/json\r\n${type}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }

  async function authorize(
    auth: NonNullable<GatewayOptions['authorizer']>,
    req: IncomingMessage,
    url: URL,
    context: WebSocketRequestContext,
    headers: HeaderMaps,
    query: HeaderMaps,
  ): Promise<RequestAuthorizerContext> {
    // Every identity source must be present and non-empty, or API Gateway answers 401 without invoking the authorizer.
    for (const source of (auth.identitySource ?? 'route.request.querystring.token').split(',').map((s) => s.trim())) {
      const [, kind, name = ''] = /^route\.request\.(querystring|header)\.(.+)$/.exec(source) ?? [];
      const value = kind === 'querystring' ? url.searchParams.get(name) : kind === 'header' ? req.headers[name.toLowerCase()] : 'n/a';
      if (!value) throw new Refusal(401, 'Unauthorized', 'UnauthorizedException');
    }
    const methodArn = `arn:aws:execute-api:local:000000000000:${o.apiId}/${o.stage}/$connect`;
    const event: AuthorizerEvent = {
      type: 'REQUEST', methodArn, headers: headers.single, multiValueHeaders: headers.multi, queryStringParameters: query.single,
      multiValueQueryStringParameters: query.multi, stageVariables: {}, requestContext: context,
    };
    const started = Date.now();
    let out: unknown;
    try {
      out = await invoke('$authorizer', auth.handler, event);
    } catch (err) {
      // Throwing exactly 'Unauthorized' is the documented way for an authorizer to ask for a 401.
      if (err instanceof Error && err.message === 'Unauthorized') throw new Refusal(401, 'Unauthorized', 'UnauthorizedException');
      o.log(`authorizer failed: ${String(err)}`);
      throw new Refusal(500, 'Internal Server Error', 'AuthorizerConfigurationException');
    }
    const { principalId, context: extra } = evaluatePolicy(out, methodArn);
    return { ...extra, principalId, integrationLatency: Date.now() - started };
  }

  // ---------------------------------------------------------------- connections and messages
  function accept(session: Session, ws: WebSocket, socket: Duplex) {
    let gone: () => void = () => undefined;
    const c: Connection = { ...session, ws, lastActiveAt: session.connectedAt, disconnected: new Promise((resolve) => (gone = resolve)) };
    connections.set(c.connectionId, c);
    armIdle(c);
    c.cap = later(o.maxConnectionMs, () => hangUp(c, 1001, 'Going away'));
    // Prepended so an oversized frame is seen before ws can deliver it as a message.
    socket.prependListener('data', frameGuard(o.maxFrameBytes, () => hangUp(c, 1009, 'Frame too large')));
    ws.on('message', (data, isBinary) => {
      if (c.closing) return;
      c.lastActiveAt = Date.now();
      armIdle(c);
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      observer?.messageIn?.(c.connectionId, buf.length);
      void dispatch(c, buf, isBinary);
    });
    ws.on('error', (err) => o.log(`socket ${c.connectionId}: ${err.message}`));
    ws.on('close', (code, reason) => {
      connections.delete(c.connectionId);
      [c.idle, c.cap, c.kill].forEach(cancel);
      // When the gateway closed the socket, report its own code and reason, not the client's echo.
      const [status, why] = [c.closing?.code ?? code, c.closing?.reason ?? reason.toString()];
      o.log(`disconnected ${c.connectionId} ${status} ${why}`);
      void disconnect(c, status, why).then(gone);
    });
  }

  // WebSocket pings and pongs are not activity, as in API Gateway: only messages reset the idle timer.
  function armIdle(c: Connection) {
    cancel(c.idle);
    c.idle = later(o.idleTimeoutMs, () => hangUp(c, 1001, 'Going away'));
  }

  /** Gateway-initiated close; a client that never completes the close handshake is cut off after a second. */
  function hangUp(c: Connection, code: number, reason: string) {
    if (c.closing) return;
    c.closing = { code, reason };
    c.ws.close(code, reason);
    c.kill = later(1000, () => c.ws.terminate());
  }

  async function disconnect(c: Session, code: number, reason: string) {
    const route = routes.$disconnect;
    if (!route) return;
    const event: WebSocketEvent = {
      headers: c.headers.single,
      multiValueHeaders: c.headers.multi,
      requestContext: {
        ...requestContext(c.connectionId, '$disconnect', 'DISCONNECT', c.identity, c.connectedAt),
        ...(c.authorizer ? { authorizer: c.authorizer } : {}),
        disconnectStatusCode: code,
        disconnectReason: reason,
      },
      isBase64Encoded: false,
    };
    await invoke('$disconnect', route, event).catch((err: unknown) => o.log(`$disconnect failed: ${String(err)}`));
  }

  /** Route selection on $request.body.action, case-sensitive; anything else (binary, not JSON, no match) is $default. */
  function selectRoute(body: string, isBinary: boolean): string {
    if (isBinary) return '$default';
    try {
      const parsed: unknown = JSON.parse(body);
      const action = isRecord(parsed) ? parsed.action : undefined;
      if (typeof action === 'string' && !action.startsWith('$') && Object.hasOwn(routes, action)) return action;
    } catch {
      // Not JSON: the selection expression has no value.
    }
    return '$default';
  }

  async function dispatch(c: Connection, data: Buffer, isBinary: boolean) {
    const body = isBinary ? data.toString('base64') : data.toString('utf8');
    const routeKey = selectRoute(body, isBinary);
    const context: WebSocketRequestContext = {
      ...requestContext(c.connectionId, routeKey, 'MESSAGE', c.identity, c.connectedAt),
      messageId: awsId(),
      ...(c.authorizer ? { authorizer: c.authorizer } : {}),
    };
    // API Gateway's own error frames, byte for byte (including its inconsistent spacing).
    const gatewayError = (message: string) =>
      `{"message": ${JSON.stringify(message)}, "connectionId":${JSON.stringify(c.connectionId)}, "requestId":${JSON.stringify(context.requestId)}}`;
    const route = routes[routeKey];
    if (!route) return send(c, gatewayError('Forbidden'), 'gateway');
    try {
      await invoke(routeKey, route, { requestContext: context, body, isBase64Encoded: isBinary });
    } catch (err) {
      o.log(`${routeKey} failed: ${String(err)}`);
      send(c, gatewayError('Internal server error'), 'gateway');
    }
  }

  function send(c: Connection, data: Buffer | string, source: 'post' | 'gateway') {
    if (!c.closing && c.ws.readyState === WebSocket.OPEN) {
      c.ws.send(data, { binary: false });
      observer?.messageOut?.(c.connectionId, data, source);
    }
  }

  // ---------------------------------------------------------------- @connections
  async function management(req: IncomingMessage, res: ServerResponse) {
    const reply = (status: number, errorType?: string, body?: unknown) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() };
      if (errorType) headers['x-amzn-errortype'] = errorType;
      res.writeHead(status, headers).end(body === undefined ? undefined : JSON.stringify(body));
    };
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    const prefix = `/${o.stage}/@connections/`;
    const rawId = path.startsWith(prefix) ? path.slice(prefix.length) : '';
    if (!rawId || rawId.includes('/') || !['GET', 'POST', 'DELETE'].includes(req.method ?? '')) {
      req.resume();
      if (req.method === 'GET' && path === '/') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('Parley local gateway');
      if (path.includes('@connections') || path.startsWith(`/${o.stage}`)) return reply(403, 'ForbiddenException', { message: 'Forbidden' });
      return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
    }
    if (managementInFlight >= o.maxConcurrentManagementCalls) {
      // LimitExceededException is the 429 the @connections API models (the SDK has a class for it).
      counters.throttled++;
      req.resume();
      return reply(429, 'LimitExceededException', { message: 'Too Many Requests' });
    }
    managementInFlight++;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size <= o.maxMessageBytes) chunks.push(chunk);
      }
      if (o.postLatencyMs > 0) await sleep(o.postLatencyMs);
      if (req.method === 'POST' && size > o.maxMessageBytes) return reply(413, 'PayloadTooLargeException', { message: 'Request Entity Too Large' });
      let id = '';
      try {
        id = decodeURIComponent(rawId);
      } catch {
        // A malformed escape names no connection: 410 below.
      }
      const fault = managementFault?.(id);
      if (fault !== undefined) return reply(fault, fault === 410 ? 'GoneException' : fault === 429 ? 'LimitExceededException' : 'InternalServerErrorException', { message: null });
      const c = connections.get(id);
      if (!c || c.closing || c.ws.readyState !== WebSocket.OPEN) {
        counters.gone++;
        return reply(410, 'GoneException', { message: null });
      }
      if (req.method === 'POST') {
        counters.posts++;
        send(c, Buffer.concat(chunks), 'post');
        return reply(200);
      }
      if (req.method === 'GET') {
        // The wire names are camelCase (the SDK maps them to ConnectedAt, Identity.SourceIp, ...).
        const { connectedAt, lastActiveAt, identity } = c;
        return reply(200, undefined, { connectedAt: new Date(connectedAt).toISOString(), identity, lastActiveAt: new Date(lastActiveAt).toISOString() });
      }
      hangUp(c, 1000, 'Connection deleted');
      res.writeHead(204, { 'x-amzn-requestid': randomUUID() }).end();
    } finally {
      managementInFlight--;
    }
  }

  // ---------------------------------------------------------------- lifecycle
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, o.host, () => (http.off('error', reject), resolve()));
  });
  const port = (http.address() as { port: number }).port;
  domainName = `${o.host}:${port}`;

  let closed: Promise<void> | undefined;
  async function shutdown() {
    closing = true;
    const open = [...connections.values()];
    open.forEach((c) => hangUp(c, 1001, 'Going away'));
    await Promise.all(open.map((c) => c.disconnected));
    // Handlers still running (past their integration timeout, or mid-$connect) get one more timeout to finish.
    const deadline = sleep(o.integrationTimeoutMs).then(() => true);
    while (running.size > 0 && !(await Promise.race([Promise.all(running).then(() => false), deadline])));
    wss.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    timers.forEach(clearTimeout);
    timers.clear();
  }

  return {
    url: `ws://${domainName}/${o.stage}`,
    managementEndpoint: `http://${domainName}/${o.stage}`,
    port,
    connectionCount: () => connections.size,
    listConnections: () =>
      [...connections.values()].map((c) => ({
        connectionId: c.connectionId,
        connectedAt: c.connectedAt,
        lastActiveAt: c.lastActiveAt,
        identity: c.identity,
        authorizer: c.authorizer ?? {},
      })),
    stats: () => ({ ...counters, invocations: { ...counters.invocations } }),
    dropConnection(connectionId) {
      const c = connections.get(connectionId);
      if (!c) return false;
      c.ws.terminate();
      return true;
    },
    setPostLatency: (ms) => void (o.postLatencyMs = ms),
    setManagementFault: (fault) => void (managementFault = fault),
    setObserver: (next) => void (observer = next),
    async settled() {
      // Work may start more work (a handler's posts, a late $disconnect): wait until a pass finds none.
      while (running.size > 0) await Promise.all([...running]);
    },
    close: () => (closed ??= shutdown()),
  };
}
