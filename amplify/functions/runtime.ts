/**
 * Module-scope wiring shared by the handlers: built once per container, so
 * warm invocations reuse the DynamoDB client and its connections.
 */
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { chatConfigFromEnv } from '../core/config';
import { createDocumentClient, managementClient, managementEndpointFor, managementNotifier, type ChatDeps } from '../core/deps';
import type { Log } from '../core/log';

const config = chatConfigFromEnv();
const db = createDocumentClient();

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
    now: Date.now,
    log,
    ...memory,
  };
}

/** API Gateway's WebSocket event; every route also carries the $connect authorizer's context. */
export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & { requestContext: { authorizer?: unknown } };

export interface WebSocketResult {
  statusCode: number;
  body?: string;
}
