/**
 * A local stand-in for an API Gateway v2 WebSocket API with Lambda proxy
 * integrations. It runs the real handlers in this process and behaves as API
 * Gateway does wherever a handler or a client can tell: the $connect REQUEST
 * authorizer and its policy, event shapes, route selection on
 * $request.body.action, the @connections management API (the real SDK client
 * talks to it), frame and message quotas, subprotocol negotiation through
 * $connect, the idle timeout and the connection cap.
 *
 * upgrade.ts: handshake and authorizer; routes.ts: messages, route selection
 * and events; connections-api.ts: @connections; limits.ts: timers and quotas;
 * core.ts: the state they share. This file starts, reports on and stops it.
 */
import { createServer } from 'node:http';
import { management } from './connections-api';
import { createCore } from './core';
import { hangUp } from './limits';
import type { GatewayOptions, LocalGateway } from './types';
import { handshakes } from './upgrade';

export type {
  AuthorizerContextValue,
  ConnectionInfo,
  GatewayAuthorizerEvent,
  GatewayEvent,
  GatewayObserver,
  GatewayOptions,
  GatewayRequestContext,
  GatewayRouteEvent,
  GatewayScheduler,
  LambdaContextLike,
  LambdaHandler,
  LocalGateway,
  RequestAuthorizerContext,
  SourceIdentity,
} from './types';

export async function startGateway(options: GatewayOptions): Promise<LocalGateway> {
  const core = createCore(options);
  const { o, connections, counters, timers, running } = core;

  const http = createServer((req, res) => void management(core, req, res).catch((err: unknown) => o.log(`management: ${String(err)}`)));
  const { wss, onUpgrade } = handshakes(core, options.authorizer);
  http.on('upgrade', onUpgrade);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, o.host, () => (http.off('error', reject), resolve()));
  });
  const port = (http.address() as { port: number }).port;
  core.domainName = `${o.host}:${port}`;

  let closed: Promise<void> | undefined;
  async function shutdown() {
    core.closing = true;
    const open = [...connections.values()];
    open.forEach((c) => hangUp(timers, c, 1001, 'Going away'));
    await Promise.all(open.map((c) => c.disconnected));
    // Handlers still running (past their integration timeout, or mid-$connect) get one more timeout to finish.
    const deadline = timers.sleep(o.integrationTimeoutMs).then(() => true);
    while (running.size > 0 && !(await Promise.race([Promise.all(running).then(() => false), deadline])));
    wss.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    timers.clear();
  }

  return {
    url: `ws://${core.domainName}/${o.stage}`,
    managementEndpoint: `http://${core.domainName}/${o.stage}`,
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
    setManagementFault: (fault) => void (core.managementFault = fault),
    setObserver: (next) => void (core.observer = next),
    async settled() {
      // Work may start more work (a handler's posts, a late $disconnect): wait until a pass finds none.
      while (running.size > 0) await Promise.all([...running]);
    },
    close: () => (closed ??= shutdown()),
  };
}
