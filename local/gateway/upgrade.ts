/**
 * The handshake: stage and upgrade checks, the $connect REQUEST authorizer
 * and its policy, $connect itself, subprotocol negotiation, and the HTTP
 * refusals API Gateway answers with.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { TOKEN_IDENTITY_SOURCE } from '../../amplify/realtime/defaults';
import { awsId, IntegrationTimeout, isRecord, Refusal, type GatewayCore } from './core';
import { accept, disconnect } from './routes';
import type {
  AuthorizerContextValue,
  GatewayAuthorizerEvent,
  GatewayOptions,
  GatewayRequestContext,
  GatewayRouteEvent,
  HeaderMaps,
  RequestAuthorizerContext,
  Session,
} from './types';

type Authorizer = NonNullable<GatewayOptions['authorizer']>;

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

/** Checks an authorizer's output against the method ARN; explicit Deny wins, as in IAM. */
export function evaluatePolicy(out: unknown, methodArn: string): { principalId: string; context: Record<string, AuthorizerContextValue> } {
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

async function authorize(
  core: GatewayCore,
  auth: Authorizer,
  req: IncomingMessage,
  url: URL,
  context: GatewayRequestContext,
  headers: HeaderMaps,
  query: HeaderMaps,
): Promise<RequestAuthorizerContext> {
  const { o } = core;
  // Every identity source must be present and non-empty, or API Gateway answers 401 without invoking the authorizer.
  for (const source of (auth.identitySource ?? TOKEN_IDENTITY_SOURCE).split(',').map((s) => s.trim())) {
    const [, kind, name = ''] = /^route\.request\.(querystring|header)\.(.+)$/.exec(source) ?? [];
    const value = kind === 'querystring' ? url.searchParams.get(name) : kind === 'header' ? req.headers[name.toLowerCase()] : 'n/a';
    if (!value) throw new Refusal(401, 'Unauthorized', 'UnauthorizedException');
  }
  const methodArn = `arn:aws:execute-api:local:000000000000:${o.apiId}/${o.stage}/$connect`;
  const event: GatewayAuthorizerEvent = {
    type: 'REQUEST', methodArn, headers: headers.single, multiValueHeaders: headers.multi, queryStringParameters: query.single,
    multiValueQueryStringParameters: query.multi, stageVariables: {}, requestContext: context,
  };
  const started = Date.now();
  let out: unknown;
  try {
    out = await core.invoke('$authorizer', auth.handler, event);
  } catch (err) {
    // Throwing exactly 'Unauthorized' is the documented way for an authorizer to ask for a 401.
    if (err instanceof Error && err.message === 'Unauthorized') throw new Refusal(401, 'Unauthorized', 'UnauthorizedException');
    o.log(`authorizer failed: ${String(err)}`);
    throw new Refusal(500, 'Internal Server Error', 'AuthorizerConfigurationException');
  }
  const { principalId, context: extra } = evaluatePolicy(out, methodArn);
  return { ...extra, principalId, integrationLatency: Date.now() - started };
}

/** The WebSocket server and the http 'upgrade' listener that runs each handshake. */
export function handshakes(core: GatewayCore, authorizer: Authorizer | undefined) {
  const { o, timers } = core;
  // The subprotocol is whatever $connect answered with, never simply the client's first offer.
  const protocols = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxMessageBytes, handleProtocols: (_offered, req) => protocols.get(req) ?? false });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    try {
      const url = new URL(req.url ?? '/', 'http://gateway');
      if (core.closing) throw new Refusal(503, 'Service Unavailable');
      if (url.pathname !== `/${o.stage}` && url.pathname !== `/${o.stage}/`) throw new Refusal(403, 'Forbidden', 'ForbiddenException');
      if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !req.headers['sec-websocket-key']) throw new Refusal(400, 'Bad Request');
      const id = awsId();
      const connectedAt = Date.now();
      const identity = { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: req.headers['user-agent'] ?? '' };
      const headers = headerMaps(req);
      const query = queryMaps(url);
      // The authorizer and $connect serve one request, so they share its requestId.
      const context = core.requestContext(id, '$connect', 'CONNECT', identity, connectedAt);
      const auth = authorizer ? await authorize(core, authorizer, req, url, context, headers, query) : undefined;
      const route = core.routes.$connect;
      if (route) {
        const event: GatewayRouteEvent = {
          headers: headers.single,
          multiValueHeaders: headers.multi,
          ...(url.search ? { queryStringParameters: query.single, multiValueQueryStringParameters: query.multi } : {}),
          requestContext: { ...context, ...(auth ? { authorizer: auth } : {}) },
          isBase64Encoded: false,
        };
        let result: unknown;
        try {
          result = await core.invoke('$connect', route, event);
        } catch (err) {
          o.log(`$connect failed: ${String(err)}`);
          throw err instanceof IntegrationTimeout ? new Refusal(504, 'Endpoint request timed out') : new Refusal(502, 'Internal server error');
        }
        const status = connectStatus(result);
        if (status < 200 || status > 299) throw new Refusal(status, STATUS_CODES[status] ?? 'Refused');
        const protocol = resultHeader(result, 'sec-websocket-protocol');
        if (protocol) protocols.set(req, protocol);
      }
      if (o.handshakeDelayMs > 0) await timers.sleep(o.handshakeDelayMs);
      const session: Session = { connectionId: id, connectedAt, identity, headers, ...(auth ? { authorizer: auth } : {}) };
      if (socket.destroyed || !socket.readable || !socket.writable || core.closing) {
        // $connect succeeded but the client left (or we are shutting down): its $disconnect still runs.
        socket.destroy();
        await disconnect(core, session, 1006, 'Connection was closed abnormally');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => accept(core, session, ws, socket));
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

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Until ws takes the socket over nothing else listens for its errors (a client hanging up mid-$connect).
    socket.on('error', (err) => o.log(`upgrade socket: ${err.message}`));
    core.track(upgrade(req, socket, head));
  };
  return { wss, onUpgrade };
}
