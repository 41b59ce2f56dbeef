/**
 * The floor: the least a chat can do on this gateway. `$connect` remembers
 * the connection id in memory (with its `?room=`, if any), `$disconnect`
 * forgets it, and `sendmessage` posts the message text to every connection
 * of the frame's room (or to everyone, without one) with Promise.all, through
 * one shared keep-alive management client: `managementClient` from
 * amplify/core/deps.ts, the one Parley deploys with. No DynamoDB, no auth.
 *
 * It speaks the baseline's frames and posts what the baseline posts, so the
 * same clients and the same extraction measure it. Whatever a figure shows
 * for the floor, any design pays on this machine: the clients' sends, the
 * local gateway's routing, SigV4 signing, HTTP to @connections and the
 * WebSocket writes, all in this one process.
 */
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { managementClient } from '../amplify/core/deps';
import { freePort } from '../local/process';
import { startGateway, type GatewayOptions, type LambdaHandler, type LocalGateway } from '../local/gateway';
import { STAGE_NAME } from '../amplify/realtime/defaults';
import { asFunction } from '../local/iam';
import { FLOOR_FUNCTION } from './env';
import type { BaselineEvent, BaselineResult } from './baseline/handlers';

/** Parley's default fan-out concurrency (amplify/core/config.ts), and so its deployed client's socket cap. */
const SOCKETS = 64;

export interface FloorStack {
  websocketUrl: string;
  gateway: LocalGateway;
  /** Connections it remembers now: the population a send without a room reaches. */
  population(): Promise<number>;
  close(): Promise<void>;
}

type Handler = (event: BaselineEvent) => Promise<BaselineResult>;

export function createFloorHandlers(managementEndpoint: string): { connect: Handler; disconnect: Handler; sendmessage: Handler; size(): number } {
  const rooms = new Map<string, string | undefined>();
  const api = managementClient(managementEndpoint, SOCKETS);
  return {
    size: () => rooms.size,
    async connect(event) {
      rooms.set(event.requestContext.connectionId, event.queryStringParameters?.room ?? undefined);
      return { statusCode: 200 };
    },
    async disconnect(event) {
      rooms.delete(event.requestContext.connectionId);
      return { statusCode: 200 };
    },
    async sendmessage(event) {
      let body: { message?: unknown; room?: unknown };
      try {
        body = JSON.parse(event.body ?? '{}') as typeof body;
      } catch {
        return { statusCode: 400 };
      }
      const room = typeof body.room === 'string' ? body.room : undefined;
      const data = new TextEncoder().encode(String(body.message ?? ''));
      const ids: string[] = [];
      for (const [id, r] of rooms) if (room === undefined || r === room) ids.push(id);
      try {
        await Promise.all(ids.map((id) => api.send(new PostToConnectionCommand({ ConnectionId: id, Data: data }))));
      } catch {
        return { statusCode: 500 };
      }
      return { statusCode: 200 };
    },
  };
}

export async function startFloor(opts: { gateway?: Partial<Omit<GatewayOptions, 'routes' | 'authorizer' | 'port'>> } = {}): Promise<FloorStack> {
  // As in startBaseline: the port first, so the handlers know their @connections endpoint.
  const port = await freePort();
  const stage = opts.gateway?.stage ?? STAGE_NAME;
  const handlers = createFloorHandlers(`http://127.0.0.1:${port}/${stage}`);
  const gateway = await startGateway({
    ...opts.gateway,
    port,
    stage,
    routes: {
      $connect: handlers.connect as LambdaHandler,
      $disconnect: handlers.disconnect as LambdaHandler,
      sendmessage: asFunction(FLOOR_FUNCTION, handlers.sendmessage) as LambdaHandler,
    },
  });
  return {
    websocketUrl: gateway.url,
    gateway,
    population: async () => handlers.size(),
    close: () => gateway.close(),
  };
}
