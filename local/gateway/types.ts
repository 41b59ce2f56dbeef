/**
 * The local gateway's public types. Event shapes build on @types/aws-lambda
 * and say only where the real WebSocket events differ from those types.
 */
import type {
  APIGatewayAuthorizerResultContext,
  APIGatewayEventIdentity,
  APIGatewayEventWebsocketRequestContextV2,
  APIGatewayProxyWebsocketEventV2,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import type { WebSocket } from 'ws';

/** The named fields of T, present and never null. */
type Present<T, K extends keyof T> = { [P in K]-?: NonNullable<T[P]> };

export type LambdaContextLike = Context;
/** What an authorizer's context may hold: API Gateway refuses objects and arrays (AuthorizerConfigurationException). */
export type AuthorizerContextValue = NonNullable<APIGatewayAuthorizerResultContext[string]>;

/** The two identity fields a WebSocket event carries. */
export type SourceIdentity = Present<APIGatewayEventIdentity, 'sourceIp' | 'userAgent'>;

/** What every route sees in requestContext.authorizer: the authorizer's principal and its flattened context. */
export interface RequestAuthorizerContext {
  principalId: string;
  integrationLatency: number;
  [key: string]: AuthorizerContextValue;
}

/**
 * requestContext as API Gateway sends it. aws-lambda's type lacks identity,
 * authorizer and the disconnect status, and requires messageId, which only
 * MESSAGE events have.
 */
export type GatewayRequestContext = Omit<APIGatewayEventWebsocketRequestContextV2, 'messageId'> & {
  messageId?: string;
  identity: SourceIdentity;
  /** Absent when the API has no authorizer. */
  authorizer?: RequestAuthorizerContext;
  disconnectStatusCode?: number;
  disconnectReason?: string;
};

/**
 * A route's event. $connect and $disconnect also carry the handshake's
 * headers; the query string maps are absent, as in API Gateway, when the URL has none.
 */
export type GatewayRouteEvent = Omit<APIGatewayProxyWebsocketEventV2, 'requestContext'> & {
  requestContext: GatewayRequestContext;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
};

/**
 * The $connect REQUEST authorizer's event. A WebSocket API sends no
 * resource, path, httpMethod or pathParameters (those are REST API fields),
 * its maps are never null, and its requestContext is the WebSocket one.
 */
export type GatewayAuthorizerEvent = Pick<APIGatewayRequestAuthorizerEvent, 'type' | 'methodArn'> &
  Present<APIGatewayRequestAuthorizerEvent, 'headers' | 'multiValueHeaders' | 'queryStringParameters' | 'multiValueQueryStringParameters' | 'stageVariables'> & {
    requestContext: GatewayRequestContext;
  };

export type GatewayEvent = GatewayRouteEvent | GatewayAuthorizerEvent;
/** Method syntax makes the event parameter bivariant, so a handler typed for one event shape fits without a cast. */
export type LambdaHandler = { handle(event: GatewayEvent, context: LambdaContextLike): Promise<unknown> }['handle'];

/**
 * Where the gateway's timers run: real timers by default. A test injects a
 * manual one to step through a 10-minute idle timeout or the 2-hour cap
 * without waiting.
 */
export interface GatewayScheduler {
  /** Runs `fn` once after `ms`; the returned function cancels it (a no-op once it has run). */
  schedule(ms: number, fn: () => void): () => void;
}

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
  /**
   * Injected time between $connect answering and the socket being usable: the
   * window in which AWS answers a post to the connection with 410.
   */
  handshakeDelayMs?: number;
  /** Injected delay for every @connections call, to model network distance in benchmarks. */
  postLatencyMs?: number;
  /** Beyond this many concurrent @connections calls, answer 429 as a throttled account would. */
  maxConcurrentManagementCalls?: number;
  /** Told what API Gateway and Lambda would meter (see GatewayObserver); none by default. */
  observer?: GatewayObserver;
  /** Runs every timer of the gateway (limits, timeouts, injected delays); real timers by default. */
  scheduler?: GatewayScheduler;
  log?: (line: string) => void;
}

/**
 * What API Gateway and Lambda meter, as it happens: messages in and out and
 * each invocation's run time. The bench's cost figure listens; without an
 * observer (the default) nothing is measured and nothing behaves differently.
 */
export interface GatewayObserver {
  /** A message a client sent, as it arrived (before routing). */
  messageIn?(connectionId: string, bytes: number): void;
  /** A message written to a client: a delivered @connections POST, or the gateway's own error frame. */
  messageOut?(connectionId: string, data: Buffer | string, source: 'post' | 'gateway'): void;
  /** A Lambda invocation began: `route` is the route key, or '$authorizer'. */
  invocationStarted?(route: string): void;
  /** It settled: `ms` from the handler's start until its promise settled (not bounded by the integration timeout). */
  invocationEnded?(route: string, ms: number, ok: boolean): void;
}

export interface ConnectionInfo {
  connectionId: string;
  connectedAt: number;
  lastActiveAt: number;
  identity: SourceIdentity;
  authorizer: Record<string, AuthorizerContextValue>;
}

export interface LocalGateway {
  url: string;
  managementEndpoint: string;
  port: number;
  connectionCount(): number;
  listConnections(): ConnectionInfo[];
  stats(): { posts: number; throttled: number; gone: number; invocations: Record<string, number> };
  /** Abrupt drop (socket destroyed, 1006), as when a client's network goes away. */
  dropConnection(connectionId: string): boolean;
  setPostLatency(ms: number): void;
  /** Fault injection: a status for @connections calls to a connection, or undefined to behave normally. */
  setManagementFault(fault: ((connectionId: string) => number | undefined) | undefined): void;
  /** Replaces the observer (undefined: none). */
  setObserver(observer: GatewayObserver | undefined): void;
  /**
   * Resolves once no invocation or handshake is in flight: a barrier for
   * tests, which then need not sleep to learn that nothing more will happen.
   */
  settled(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- internal

export interface HeaderMaps {
  single: Record<string, string>;
  multi: Record<string, string[]>;
}

/** What is known once $connect has succeeded. */
export interface Session {
  connectionId: string;
  connectedAt: number;
  identity: SourceIdentity;
  headers: HeaderMaps;
  authorizer?: RequestAuthorizerContext;
}

/** An open WebSocket with its session and the gateway's bookkeeping. */
export interface GatewaySocket extends Session {
  ws: WebSocket;
  lastActiveAt: number;
  /** Set when the gateway decided to close: later messages are not routed, @connections answers 410. */
  closing?: { code: number; reason: string };
  /** Cancels the idle timer, the cap and the kill timer (each a no-op when unset or run). */
  idle?: () => void;
  cap?: () => void;
  kill?: () => void;
  disconnected: Promise<void>;
}
