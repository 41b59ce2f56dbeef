import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type { ChatConfig } from './config';
import type { LocalAdmission } from './ratelimit';

/** Delivers bytes to one connection; 'gone' means API Gateway no longer knows it (410). */
export interface Notifier {
  post(connectionId: string, data: Uint8Array): Promise<'ok' | 'gone'>;
}

/** What the domain modules need. Handlers build one at module scope; tests build their own. */
export interface ChatDeps {
  db: DynamoDBDocumentClient;
  tables: ChatConfig['tables'];
  notifier: Notifier;
  fanoutConcurrency: number;
  homeRegion: string;
  now: () => number;
  /** This container's memory of recent admissions; optional, it only saves writes. */
  admission?: LocalAdmission;
}

/**
 * DynamoDB Local and AWS share this path: the endpoint comes from the SDK's
 * standard AWS_ENDPOINT_URL_DYNAMODB variable when set, so no local-only branch.
 */
export function createDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

const managementClients = new Map<string, ApiGatewayManagementApiClient>();

/**
 * One client per endpoint, kept across invocations of a warm container. The
 * SDK's default agent allows 50 sockets, which would quietly cap the fan-out's
 * concurrency, so the agent gets as many as the fan-out uses.
 */
export function managementClient(endpoint: string, maxSockets = 64): ApiGatewayManagementApiClient {
  let client = managementClients.get(endpoint);
  if (!client) {
    const agent = { keepAlive: true, maxSockets };
    client = new ApiGatewayManagementApiClient({ endpoint, requestHandler: { httpAgent: agent, httpsAgent: agent } });
    managementClients.set(endpoint, client);
  }
  return client;
}

export function managementNotifier(client: ApiGatewayManagementApiClient): Notifier {
  return {
    async post(connectionId, data) {
      try {
        await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        return 'ok';
      } catch (err) {
        if (err instanceof Error && (err.name === 'GoneException' || httpStatus(err) === 410)) return 'gone';
        throw err;
      }
    },
  };
}

function httpStatus(err: Error): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

/** The @connections endpoint for an event: configuration wins (local mode), else the event's own domain. */
export function managementEndpointFor(
  config: Pick<ChatConfig, 'managementEndpoint'>,
  requestContext: { domainName: string; stage: string },
): string {
  return config.managementEndpoint ?? `https://${requestContext.domainName}/${requestContext.stage}`;
}
