/**
 * A local stand-in for an API Gateway v2 WebSocket API with Lambda proxy
 * integrations. It runs the real handlers in this process and behaves as API
 * Gateway does where the handlers can tell: route selection on
 * $request.body.action, the $connect REQUEST authorizer, event shapes, the
 * @connections management API (which the real SDK client talks to), frame and
 * message quotas, the idle timeout and the connection cap.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { LIMITS } from '../amplify/core/protocol';

export interface LambdaContextLike {
  awsRequestId: string;
  functionName: string;
  getRemainingTimeInMillis(): number;
}
export type LambdaHandler = (event: never, context: LambdaContextLike) => Promise<unknown>;

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
  /** Injected delay for every @connections call, to model network distance in benchmarks. */
  postLatencyMs?: number;
  /** Beyond this many concurrent @connections calls, answer 429 as a throttled account would. */
  maxConcurrentManagementCalls?: number;
  log?: (line: string) => void;
}

export interface LocalGateway {
  url: string;
  managementEndpoint: string;
  port: number;
  connectionCount(): number;
  stats(): { posts: number; throttled: number; gone: number; invocations: Record<string, number> };
  dropConnection(connectionId: string): boolean;
  /** Open connections with their authorizer context, for tests and tools. */
  listConnections(): { connectionId: string; authorizer: Record<string, unknown> }[];
  /** Changes the injected @connections latency at run time. */
  setPostLatency(ms: number): void;
  /** Fault injection: answer @connections calls for which `fault` returns a status with that status instead. */
  setManagementFault(fault: ((connectionId: string) => number | undefined) | undefined): void;
  close(): Promise<void>;
}

interface Identity {
  sourceIp: string;
  userAgent: string;
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
  messageId?: string;
  authorizer?: Record<string, unknown>;
  disconnectStatusCode?: number;
  disconnectReason?: string;
}

export interface WebSocketEvent {
  requestContext: WebSocketRequestContext;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
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

interface PolicyStatement {
  Effect?: string;
  Resource?: string | string[];
}
interface AuthorizerOutput {
  principalId?: string;
  policyDocument?: { Statement?: PolicyStatement[] };
  context?: Record<string, string | number | boolean>;
}

interface Connection {
  id: string;
  ws: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  identity: Identity;
  authorizer: Record<string, unknown>;
  idle?: NodeJS.Timeout;
  cap?: NodeJS.Timeout;
  gone: boolean;
  disconnected: Promise<void>;
}

class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const single = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : (v ?? ''));

function headerMaps(req: IncomingMessage) {
  const headers: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    headers[k] = single(v);
    multi[k] = Array.isArray(v) ? v : [single(v)];
  }
  return { headers, multi };
}

function queryMaps(url: URL) {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) {
    single[k] = v;
    (multi[k] ??= []).push(v);
  }
  return { single, multi };
}

/** API Gateway resource patterns allow `*` wildcards. */
function arnMatches(pattern: string, arn: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(arn);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Integration timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Watches the raw byte stream beside `ws` and reports any single frame whose
 * payload exceeds the limit; `ws` itself only limits whole messages.
 */
function frameSizeGuard(limit: number, onOversize: () => void): (chunk: Buffer) => void {
  let header = Buffer.alloc(0);
  let skip = 0;
  return (chunk) => {
    let buf = chunk;
    while (buf.length > 0) {
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        skip -= n;
        buf = buf.subarray(n);
        continue;
      }
      header = Buffer.concat([header, buf]);
      buf = Buffer.alloc(0);
      if (header.length < 2) return;
      const b1 = header[1]!;
      const lenCode = b1 & 0x7f;
      const masked = (b1 & 0x80) !== 0;
      const extra = lenCode === 126 ? 2 : lenCode === 127 ? 8 : 0;
      const headerLen = 2 + extra + (masked ? 4 : 0);
      if (header.length < headerLen) return;
      const payload = lenCode === 126 ? header.readUInt16BE(2) : lenCode === 127 ? Number(header.readBigUInt64BE(2)) : lenCode;
      if (payload > limit) {
        onOversize();
        return;
      }
      buf = header.subarray(headerLen);
      header = Buffer.alloc(0);
      skip = payload;
    }
  };
}

export async function startGateway(options: GatewayOptions): Promise<LocalGateway> {
  const o = {
    host: '127.0.0.1',
    port: 0,
    stage: 'production',
    apiId: 'local',
    idleTimeoutMs: LIMITS.idleTimeoutMs,
    maxConnectionMs: LIMITS.maxConnectionMs,
    maxFrameBytes: LIMITS.maxFrameBytes,
    maxMessageBytes: LIMITS.maxMessageBytes,
    integrationTimeoutMs: 29_000,
    postLatencyMs: 0,
    maxConcurrentManagementCalls: Infinity,
    log: () => undefined,
    ...options,
  };
  const connections = new Map<string, Connection>();
  const counters = { posts: 0, throttled: 0, gone: 0, invocations: {} as Record<string, number> };
  let managementInFlight = 0;
  let managementFault: ((connectionId: string) => number | undefined) | undefined;
  let domainName = `${o.host}:${o.port}`;

  const baseContext = (connectionId: string, routeKey: string, eventType: WebSocketRequestContext['eventType'], identity: Identity, connectedAt: number): WebSocketRequestContext => {
    const now = Date.now();
    return {
      routeKey,
      eventType,
      extendedRequestId: randomUUID(),
      requestTime: new Date(now).toUTCString(),
      messageDirection: 'IN',
      stage: o.stage,
      connectedAt,
      requestTimeEpoch: now,
      identity,
      requestId: randomUUID(),
      domainName,
      connectionId,
      apiId: o.apiId,
    };
  };

  const invoke = async (routeKey: string, handler: LambdaHandler, event: unknown): Promise<unknown> => {
    counters.invocations[routeKey] = (counters.invocations[routeKey] ?? 0) + 1;
    const deadline = Date.now() + o.integrationTimeoutMs;
    const context: LambdaContextLike = {
      awsRequestId: randomUUID(),
      functionName: routeKey,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    return withTimeout(handler(event as never, context), o.integrationTimeoutMs);
  };

  const armIdle = (c: Connection) => {
    clearTimeout(c.idle);
    c.idle = setTimeout(() => c.ws.close(1001, 'Going away'), o.idleTimeoutMs);
  };

  const http = createServer((req, res) => void management(req, res));
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxMessageBytes });

  // ---------------------------------------------------------------- $connect
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${domainName}`);
      try {
        if (url.pathname.replace(/\/$/, '') !== `/${o.stage}`) throw new Refusal(403, 'Forbidden');
        const connectionId = randomBytes(12).toString('base64');
        const connectedAt = Date.now();
        const identity = { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: single(req.headers['user-agent']) };
        const { headers, multi } = headerMaps(req);
        const query = queryMaps(url);
        let authorizer: Record<string, unknown> = {};
        if (o.authorizer) authorizer = await authorize(o.authorizer, url, connectionId, identity, connectedAt, headers, multi, query);
        const route = o.routes.$connect;
        if (route) {
          const event: WebSocketEvent = {
            requestContext: { ...baseContext(connectionId, '$connect', 'CONNECT', identity, connectedAt), authorizer },
            headers,
            multiValueHeaders: multi,
            queryStringParameters: query.single,
            multiValueQueryStringParameters: query.multi,
            isBase64Encoded: false,
          };
          let result: unknown;
          try {
            result = await invoke('$connect', route, event);
          } catch (err) {
            o.log(`$connect failed: ${String(err)}`);
            throw new Refusal(502, 'Bad Gateway');
          }
          const status = typeof result === 'object' && result && 'statusCode' in result ? Number(result.statusCode) : 200;
          if (status < 200 || status > 299) throw new Refusal(status, 'Connection refused');
        }
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, socket, connectionId, connectedAt, identity, authorizer));
      } catch (err) {
        const status = err instanceof Refusal ? err.status : 500;
        const text = err instanceof Refusal ? err.message : 'Internal Server Error';
        if (!(err instanceof Refusal)) o.log(`upgrade failed: ${String(err)}`);
        socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
      }
    })();
  });

  async function authorize(
    auth: NonNullable<GatewayOptions['authorizer']>,
    url: URL,
    connectionId: string,
    identity: Identity,
    connectedAt: number,
    headers: Record<string, string>,
    multi: Record<string, string[]>,
    query: { single: Record<string, string>; multi: Record<string, string[]> },
  ): Promise<Record<string, unknown>> {
    const source = auth.identitySource ?? 'route.request.querystring.token';
    const name = source.split('.').at(-1) ?? 'token';
    const value = source.includes('.querystring.') ? url.searchParams.get(name) : headers[name.toLowerCase()];
    // API Gateway answers 401 itself when the identity source is missing, without invoking the authorizer.
    if (!value) throw new Refusal(401, 'Unauthorized');
    const methodArn = `arn:aws:execute-api:local:000000000000:${o.apiId}/${o.stage}/$connect`;
    const event: AuthorizerEvent = {
      type: 'REQUEST',
      methodArn,
      headers,
      multiValueHeaders: multi,
      queryStringParameters: query.single,
      multiValueQueryStringParameters: query.multi,
      stageVariables: {},
      requestContext: baseContext(connectionId, '$connect', 'CONNECT', identity, connectedAt),
    };
    const started = Date.now();
    let out: AuthorizerOutput;
    try {
      out = (await invoke('$authorizer', auth.handler, event)) as AuthorizerOutput;
    } catch (err) {
      if (err instanceof Error && err.message === 'Unauthorized') throw new Refusal(401, 'Unauthorized');
      o.log(`authorizer failed: ${String(err)}`);
      throw new Refusal(500, 'Internal Server Error');
    }
    const allowed = (out?.policyDocument?.Statement ?? []).some(
      (s) => s.Effect === 'Allow' && [s.Resource ?? []].flat().some((r) => arnMatches(r, methodArn)),
    );
    const denied = (out?.policyDocument?.Statement ?? []).some(
      (s) => s.Effect === 'Deny' && [s.Resource ?? []].flat().some((r) => arnMatches(r, methodArn)),
    );
    if (!allowed || denied) throw new Refusal(403, 'Forbidden');
    return { principalId: out.principalId, integrationLatency: Date.now() - started, ...out.context };
  }

  // ---------------------------------------------------------------- messages
  function accept(ws: WebSocket, socket: Duplex, id: string, connectedAt: number, identity: Identity, authorizer: Record<string, unknown>) {
    let resolveGone: () => void = () => undefined;
    const c: Connection = {
      id,
      ws,
      connectedAt,
      lastActiveAt: connectedAt,
      identity,
      authorizer,
      gone: false,
      disconnected: new Promise((r) => (resolveGone = r)),
    };
    connections.set(id, c);
    armIdle(c);
    c.cap = setTimeout(() => ws.close(1001, 'Going away'), o.maxConnectionMs);
    socket.on('data', frameSizeGuard(o.maxFrameBytes, () => ws.close(1009, 'Frame too large')));

    ws.on('message', (data, isBinary) => {
      c.lastActiveAt = Date.now();
      armIdle(c);
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      void dispatch(c, buf, isBinary);
    });
    ws.on('error', (err) => o.log(`socket ${id}: ${err.message}`));
    ws.on('close', (code, reason) => {
      c.gone = true;
      clearTimeout(c.idle);
      clearTimeout(c.cap);
      connections.delete(id);
      const route = o.routes.$disconnect;
      const done = route
        ? invoke('$disconnect', route, {
            requestContext: {
              ...baseContext(id, '$disconnect', 'DISCONNECT', identity, connectedAt),
              authorizer,
              disconnectStatusCode: code,
              disconnectReason: String(reason),
            },
            headers: {},
            isBase64Encoded: false,
          } satisfies WebSocketEvent).catch((err: unknown) => o.log(`$disconnect failed: ${String(err)}`))
        : Promise.resolve();
      void done.then(() => resolveGone());
    });
  }

  async function dispatch(c: Connection, data: Buffer, isBinary: boolean) {
    let routeKey = '$default';
    const body = isBinary ? data.toString('base64') : data.toString('utf8');
    if (!isBinary) {
      try {
        const parsed: unknown = JSON.parse(body);
        const action = typeof parsed === 'object' && parsed !== null ? (parsed as { action?: unknown }).action : undefined;
        if (typeof action === 'string' && Object.hasOwn(o.routes, action) && !action.startsWith('$')) routeKey = action;
      } catch {
        // Not JSON: route selection cannot evaluate, so API Gateway falls back to $default.
      }
    }
    const requestContext = { ...baseContext(c.id, routeKey, 'MESSAGE', c.identity, c.connectedAt), messageId: randomBytes(8).toString('base64'), authorizer: c.authorizer };
    const route = o.routes[routeKey];
    if (!route) {
      send(c, JSON.stringify({ message: 'Forbidden', connectionId: c.id, requestId: requestContext.requestId }));
      return;
    }
    try {
      await invoke(routeKey, route, { requestContext, body, isBase64Encoded: isBinary } satisfies WebSocketEvent);
    } catch (err) {
      o.log(`${routeKey} failed: ${String(err)}`);
      send(c, JSON.stringify({ message: 'Internal server error', connectionId: c.id, requestId: requestContext.requestId }));
    }
  }

  const send = (c: Connection, data: string | Buffer) => {
    if (!c.gone && c.ws.readyState === WebSocket.OPEN) c.ws.send(data, { binary: false });
  };

  // ---------------------------------------------------------------- @connections
  async function management(req: IncomingMessage, res: ServerResponse) {
    const reply = (status: number, type?: string, body?: unknown) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (type) headers['x-amzn-errortype'] = type;
      res.writeHead(status, headers).end(body === undefined ? undefined : JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', `http://${domainName}`);
    if (url.pathname === '/' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Parley local gateway');
      return;
    }
    const prefix = `/${o.stage}/@connections/`;
    if (!url.pathname.startsWith(prefix)) {
      reply(url.pathname.includes('@connections') ? 403 : 404, url.pathname.includes('@connections') ? 'ForbiddenException' : undefined, { message: 'Forbidden' });
      return;
    }
    if (managementInFlight >= o.maxConcurrentManagementCalls) {
      counters.throttled++;
      req.resume();
      reply(429, 'TooManyRequestsException', { message: 'Too Many Requests' });
      return;
    }
    managementInFlight++;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size <= o.maxMessageBytes) chunks.push(chunk as Buffer);
      }
      if (o.postLatencyMs > 0) await new Promise((r) => setTimeout(r, o.postLatencyMs));
      const id = decodeURIComponent(url.pathname.slice(prefix.length));
      const injected = managementFault?.(id);
      if (injected) {
        reply(injected, injected >= 500 ? 'InternalServerErrorException' : 'BadRequestException', { message: 'Injected fault' });
        return;
      }
      const c = connections.get(id);
      if (!c || c.gone || c.ws.readyState !== WebSocket.OPEN) {
        counters.gone++;
        reply(410, 'GoneException', { message: null });
        return;
      }
      switch (req.method) {
        case 'POST':
          if (size > o.maxMessageBytes) {
            reply(413, 'PayloadTooLargeException', { message: 'Message too long' });
            return;
          }
          counters.posts++;
          send(c, Buffer.concat(chunks));
          reply(200);
          return;
        case 'GET':
          reply(200, undefined, {
            ConnectedAt: new Date(c.connectedAt).toISOString(),
            Identity: { SourceIp: c.identity.sourceIp, UserAgent: c.identity.userAgent },
            LastActiveAt: new Date(c.lastActiveAt).toISOString(),
          });
          return;
        case 'DELETE':
          c.ws.close(1000, 'Connection deleted');
          res.writeHead(204).end();
          return;
        default:
          reply(403, 'ForbiddenException', { message: 'Forbidden' });
      }
    } finally {
      managementInFlight--;
    }
  }

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port, o.host, () => resolve());
  });
  const port = (http.address() as { port: number }).port;
  domainName = `${o.host}:${port}`;

  return {
    url: `ws://${o.host}:${port}/${o.stage}`,
    managementEndpoint: `http://${o.host}:${port}/${o.stage}`,
    port,
    connectionCount: () => connections.size,
    stats: () => ({ ...counters, invocations: { ...counters.invocations } }),
    dropConnection(connectionId) {
      const c = connections.get(connectionId);
      if (!c) return false;
      c.ws.terminate();
      return true;
    },
    listConnections: () => [...connections.values()].map((c) => ({ connectionId: c.id, authorizer: c.authorizer })),
    setPostLatency(ms) {
      o.postLatencyMs = ms;
    },
    setManagementFault(fault) {
      managementFault = fault;
    },
    async close() {
      const pending = [...connections.values()].map((c) => {
        c.ws.close(1001, 'Going away');
        // A client that never answers the close handshake must not hold shutdown up.
        setTimeout(() => c.ws.terminate(), 1000).unref();
        return c.disconnected;
      });
      await Promise.all(pending);
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
