/**
 * The @connections management API (POST, GET, DELETE
 * /<stage>/@connections/<id>), answering as API Gateway does: 410
 * GoneException for a connection that is not open (including one whose
 * $connect has not finished), 413 over the message quota, 429 when throttled.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocket } from 'ws';
import type { GatewayCore } from './core';
import { hangUp } from './limits';
import { send } from './routes';

export async function management(core: GatewayCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { o, counters } = core;
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
  if (core.managementInFlight >= o.maxConcurrentManagementCalls) {
    // LimitExceededException is the 429 the @connections API models (the SDK has a class for it).
    counters.throttled++;
    req.resume();
    return reply(429, 'LimitExceededException', { message: 'Too Many Requests' });
  }
  core.managementInFlight++;
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= o.maxMessageBytes) chunks.push(chunk);
    }
    if (o.postLatencyMs > 0) await core.timers.sleep(o.postLatencyMs);
    if (req.method === 'POST' && size > o.maxMessageBytes) return reply(413, 'PayloadTooLargeException', { message: 'Request Entity Too Large' });
    let id = '';
    try {
      id = decodeURIComponent(rawId);
    } catch {
      // A malformed escape names no connection: 410 below.
    }
    const fault = core.managementFault?.(id);
    if (fault !== undefined) return reply(fault, fault === 410 ? 'GoneException' : fault === 429 ? 'LimitExceededException' : 'InternalServerErrorException', { message: null });
    const c = core.connections.get(id);
    if (!c || c.closing || c.ws.readyState !== WebSocket.OPEN) {
      counters.gone++;
      return reply(410, 'GoneException', { message: null });
    }
    if (req.method === 'POST') {
      counters.posts++;
      send(core, c, Buffer.concat(chunks), 'post');
      return reply(200);
    }
    if (req.method === 'GET') {
      // The wire names are camelCase (the SDK maps them to ConnectedAt, Identity.SourceIp, ...).
      const { connectedAt, lastActiveAt, identity } = c;
      return reply(200, undefined, { connectedAt: new Date(connectedAt).toISOString(), identity, lastActiveAt: new Date(lastActiveAt).toISOString() });
    }
    hangUp(core.timers, c, 1000, 'Connection deleted');
    res.writeHead(204, { 'x-amzn-requestid': randomUUID() }).end();
  } finally {
    core.managementInFlight--;
  }
}
