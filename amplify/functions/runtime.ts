/**
 * Module-scope wiring shared by the handlers: built once per container, so
 * warm invocations reuse the DynamoDB client and its connections.
 */
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { chatConfigFromEnv } from '../core/config';
import { createDocumentClient, homeForwarder, managementClient, managementEndpointFor, managementNotifier, type ChatDeps } from '../core/deps';
import type { Log } from '../core/log';

const config = chatConfigFromEnv();
const db = createDocumentClient();
const forward = homeForwarder(config.regions);

/**
 * Dependencies for one invocation: the @connections endpoint and the log are
 * the event's own. `memory` is what the calling function keeps across its warm
 * invocations; each function builds its own, as each is its own container in AWS.
 */
export function depsFor(
  requestContext: { domainName: string; stage: string },
  log: Log,
  memory: Pick<ChatDeps, 'admission' | 'cache'> = {},
): ChatDeps {
  return {
    db,
    tables: config.tables,
    notifier: managementNotifier(managementClient(managementEndpointFor(config, requestContext), config.fanoutConcurrency)),
    fanoutConcurrency: config.fanoutConcurrency,
    homeRegion: config.homeRegion,
    primaryRegion: config.primaryRegion,
    ...(forward ? { forward } : {}),
    now: Date.now,
    log,
    ...memory,
  };
}

/**
 * Dependencies for a function no WebSocket event invokes (home, fanout): it
 * posts to its own region's sockets, at the stage's callback URL.
 */
export function regionalDeps(log: Log, memory: Pick<ChatDeps, 'admission' | 'cache'> = {}): ChatDeps {
  if (!config.callbackUrl) throw new Error('Missing environment variable PARLEY_CALLBACK_URL');
  const url = new URL(config.callbackUrl);
  return depsFor({ domainName: url.host, stage: url.pathname.replace(/^\/+|\/+$/g, '') }, log, memory);
}

/** API Gateway's WebSocket event; every route also carries the $connect authorizer's context. */
export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & { requestContext: { authorizer?: unknown } };

export interface WebSocketResult {
  statusCode: number;
  body?: string;
}
