/**
 * An open connection's life: its messages routed on $request.body.action to
 * MESSAGE events, frames written back, and $disconnect when it ends.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { awsId, isRecord, type GatewayCore } from './core';
import { armCap, armIdle, disarm, frameGuard, hangUp } from './limits';
import type { GatewayRequestContext, GatewayRouteEvent, GatewaySocket, Session } from './types';

/** Takes over a socket whose $connect succeeded: limits armed, messages routed, $disconnect on close. */
export function accept(core: GatewayCore, session: Session, ws: WebSocket, socket: Duplex): void {
  const { o, timers } = core;
  let gone: () => void = () => undefined;
  const c: GatewaySocket = { ...session, ws, lastActiveAt: session.connectedAt, disconnected: new Promise((resolve) => (gone = resolve)) };
  core.connections.set(c.connectionId, c);
  armIdle(timers, c, o.idleTimeoutMs);
  armCap(timers, c, o.maxConnectionMs);
  // Prepended so an oversized frame is seen before ws can deliver it as a message.
  socket.prependListener('data', frameGuard(o.maxFrameBytes, () => hangUp(timers, c, 1009, 'Frame too large')));
  ws.on('message', (data, isBinary) => {
    if (c.closing) return;
    c.lastActiveAt = Date.now();
    armIdle(timers, c, o.idleTimeoutMs);
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    core.observer?.messageIn?.(c.connectionId, buf.length);
    void dispatch(core, c, buf, isBinary);
  });
  ws.on('error', (err) => o.log(`socket ${c.connectionId}: ${err.message}`));
  ws.on('close', (code, reason) => {
    core.connections.delete(c.connectionId);
    disarm(c);
    // When the gateway closed the socket, report its own code and reason, not the client's echo.
    const [status, why] = [c.closing?.code ?? code, c.closing?.reason ?? reason.toString()];
    o.log(`disconnected ${c.connectionId} ${status} ${why}`);
    void disconnect(core, c, status, why).then(gone);
  });
}

/** Runs $disconnect (if the API has it); its failure is logged, as API Gateway has no one to tell. */
export async function disconnect(core: GatewayCore, c: Session, code: number, reason: string): Promise<void> {
  const route = core.routes.$disconnect;
  if (!route) return;
  const event: GatewayRouteEvent = {
    headers: c.headers.single,
    multiValueHeaders: c.headers.multi,
    requestContext: {
      ...core.requestContext(c.connectionId, '$disconnect', 'DISCONNECT', c.identity, c.connectedAt),
      ...(c.authorizer ? { authorizer: c.authorizer } : {}),
      disconnectStatusCode: code,
      disconnectReason: reason,
    },
    isBase64Encoded: false,
  };
  await core.invoke('$disconnect', route, event).catch((err: unknown) => core.o.log(`$disconnect failed: ${String(err)}`));
}

/** Route selection on $request.body.action, case-sensitive; anything else (binary, not JSON, no match) is $default. */
export function selectRoute(routes: GatewayCore['routes'], body: string, isBinary: boolean): string {
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

async function dispatch(core: GatewayCore, c: GatewaySocket, data: Buffer, isBinary: boolean): Promise<void> {
  const body = isBinary ? data.toString('base64') : data.toString('utf8');
  const routeKey = selectRoute(core.routes, body, isBinary);
  const context: GatewayRequestContext = {
    ...core.requestContext(c.connectionId, routeKey, 'MESSAGE', c.identity, c.connectedAt),
    messageId: awsId(),
    ...(c.authorizer ? { authorizer: c.authorizer } : {}),
  };
  // API Gateway's own error frames, byte for byte (including its inconsistent spacing).
  const gatewayError = (message: string) =>
    `{"message": ${JSON.stringify(message)}, "connectionId":${JSON.stringify(c.connectionId)}, "requestId":${JSON.stringify(context.requestId)}}`;
  const route = core.routes[routeKey];
  if (!route) return send(core, c, gatewayError('Forbidden'), 'gateway');
  try {
    await core.invoke(routeKey, route, { requestContext: context, body, isBase64Encoded: isBinary });
  } catch (err) {
    core.o.log(`${routeKey} failed: ${String(err)}`);
    send(core, c, gatewayError('Internal server error'), 'gateway');
  }
}

/** Writes a text frame to an open connection; nothing once the gateway is closing it. */
export function send(core: GatewayCore, c: GatewaySocket, data: Buffer | string, source: 'post' | 'gateway'): void {
  if (!c.closing && c.ws.readyState === WebSocket.OPEN) {
    c.ws.send(data, { binary: false });
    core.observer?.messageOut?.(c.connectionId, data, source);
  }
}
