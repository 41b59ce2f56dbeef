import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { RegionRoute } from './config';
import { ProtocolError, type ErrorCode } from './protocol';
import { homeUnavailable } from './regions';
import type { ChatConfig } from './config';
import type { HomeRequest } from './home';
import type { ContainerCache } from './cache';
import type { Log } from './log';
import type { LocalAdmission } from './ratelimit';

/** Delivers bytes to one connection; 'gone' means API Gateway no longer knows it (410). */
export interface Notifier {
  post(connectionId: string, data: Uint8Array): Promise<'ok' | 'gone'>;
  /** Closes the socket from the server side (@connections DELETE). */
  close(connectionId: string): Promise<'ok' | 'gone'>;
}

/**
 * What the domain modules need. Handlers build one per invocation
 * (functions/runtime.ts's depsFor: its @connections endpoint is the event's)
 * around what lives at module scope for the container's life: the DynamoDB
 * client (runtime.ts), one management client per endpoint (managementClient
 * below) and, in the chat function only, its admission and cache memory
 * (functions/chat/handler.ts). Tests build their own.
 */
export interface ChatDeps {
  db: DynamoDBDocumentClient;
  tables: ChatConfig['tables'];
  notifier: Notifier;
  fanoutConcurrency: number;
  /** This function's region: rooms created here are homed here. */
  homeRegion: string;
  /** The primary region (the lobby's home, where room ids are claimed); absent: this region. */
  primaryRegion?: string;
  /**
   * Runs a request in another region's home function (core/home.ts), throwing
   * its ProtocolError, or home_unavailable when that region cannot be reached.
   * Absent in a single-region deployment, which is home to every room.
   */
  forward?: (region: string, request: HomeRequest) => Promise<unknown>;
  now: () => number;
  /** This container's memory of recent admissions; optional, it only saves writes. */
  admission?: LocalAdmission;
  /** This container's memory of rooms and recipients; optional, it only saves reads and writes. */
  cache?: ContainerCache;
  /** Bound to the invocation by the handler; without one, warnings go to the console (core/log.ts). */
  log?: Log;
}

/** An AWS SDK client a handler uses. Handlers build theirs only through this module. */
export type SdkClient = DynamoDBClient | ApiGatewayManagementApiClient | LambdaClient;
const sdkClients = new Set<SdkClient>();
const sdkClientHooks: ((client: SdkClient) => void)[] = [];

function built<T extends SdkClient>(client: T): T {
  sdkClients.add(client);
  for (const hook of sdkClientHooks) hook(client);
  return client;
}

/**
 * Calls `hook` with every SDK client built here, those already built and those
 * to come, e.g. to add middleware. Local mode's IAM recorder (local/iam.ts)
 * is the only caller; in Lambda nothing registers, so nothing changes.
 */
export function onSdkClient(hook: (client: SdkClient) => void): void {
  sdkClientHooks.push(hook);
  for (const client of sdkClients) hook(client);
}

/**
 * DynamoDB Local and AWS share this path: the endpoint comes from the SDK's
 * standard AWS_ENDPOINT_URL_DYNAMODB variable when set, so no local-only branch.
 */
export function createDocumentClient(): DynamoDBDocumentClient {
  // lib-dynamodb sends through the base client's middleware stack, so a hook on it sees every call.
  return DynamoDBDocumentClient.from(built(new DynamoDBClient({})), {
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
    client = built(new ApiGatewayManagementApiClient({ endpoint, requestHandler: { httpAgent: agent, httpsAgent: agent } }));
    managementClients.set(endpoint, client);
  }
  return client;
}

export function managementNotifier(client: ApiGatewayManagementApiClient): Notifier {
  const unlessGone = async (call: Promise<unknown>): Promise<'ok' | 'gone'> => {
    try {
      await call;
      return 'ok';
    } catch (err) {
      if (err instanceof Error && (err.name === 'GoneException' || httpStatus(err) === 410)) return 'gone';
      throw err;
    }
  };
  return {
    post: (connectionId, data) => unlessGone(client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }))),
    close: (connectionId) => unlessGone(client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }))),
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

/**
 * How long a forwarded request may take before the room's home counts as
 * unreachable: well inside the chat function's 25 s, and long enough for a
 * cold home function. One attempt: the caller's client retries, with its
 * clientMsgId, so a send is never stored twice.
 */
const FORWARD_TIMEOUT_MS = 8_000;
const FORWARD_CONNECT_TIMEOUT_MS = 2_000;

/**
 * deps.forward for a multi-region deployment: one Lambda client per region,
 * kept for the container's life, invoking that region's home function
 * (core/home.ts) and turning its answer back into a value or the same
 * ProtocolError. Any failure to get an answer is home_unavailable.
 */
export function homeForwarder(regions: Record<string, RegionRoute>): ((region: string, request: HomeRequest) => Promise<unknown>) | undefined {
  if (Object.keys(regions).length === 0) return undefined;
  const clients = new Map<string, LambdaClient>();
  const clientFor = (region: string, route: RegionRoute) => {
    let client = clients.get(region);
    if (!client) {
      client = built(
        new LambdaClient({
          region: route.endpoint ? process.env.AWS_REGION : region,
          ...(route.endpoint ? { endpoint: route.endpoint } : {}),
          maxAttempts: 1,
          requestHandler: { connectionTimeout: FORWARD_CONNECT_TIMEOUT_MS, requestTimeout: FORWARD_TIMEOUT_MS },
        }),
      );
      clients.set(region, client);
    }
    return client;
  };
  return async (region, request) => {
    const route = regions[region];
    if (!route) throw homeUnavailable(region);
    let payload: Uint8Array | undefined;
    try {
      const res = await clientFor(region, route).send(
        new InvokeCommand({ FunctionName: route.homeFunction, Payload: new TextEncoder().encode(JSON.stringify(request)) }),
      );
      if (res.FunctionError) throw new Error(`home function failed: ${res.FunctionError}`);
      payload = res.Payload;
    } catch {
      throw homeUnavailable(region);
    }
    const answer = JSON.parse(new TextDecoder().decode(payload)) as { ok: true; value: unknown } | { ok: false; error: { code: ErrorCode; message: string; details?: ProtocolError['details'] } };
    if (answer.ok) return answer.value;
    throw new ProtocolError(answer.error.code, answer.error.message, answer.error.details ?? {});
  };
}
