/**
 * The WebSocket API settings that local mode must match exactly: the CDK
 * construct deploys them, the local gateway and stack default to them. No CDK
 * imports here, so local code and tests can import it cheaply.
 */

/** The one stage: part of every WebSocket URL and @connections endpoint. */
export const STAGE_NAME = 'production';

/** The query parameter the client puts its ID token in (wss://…/production?token=…). */
export const TOKEN_QUERY_PARAMETER = 'token';

/** The $connect authorizer's identity source: API Gateway answers 401 without invoking it when this is missing. */
export const TOKEN_IDENTITY_SOURCE = `route.request.querystring.${TOKEN_QUERY_PARAMETER}`;

/**
 * Which chat-table stream records a region's fanout function receives: new
 * message and change items (sk S#…) written in another region, never skips.
 * The CDK event source mapping and the local stream poller both use it, so
 * local mode filters exactly as Lambda does. (Lambda event filter syntax.)
 */
export function fanoutStreamFilter(region: string) {
  return {
    eventName: ['INSERT'],
    dynamodb: {
      NewImage: {
        sk: { S: [{ prefix: 'S#' }] },
        origin: { S: [{ 'anything-but': [region] }] },
        skipped: [{ exists: false }],
      },
    },
  } as const;
}

/**
 * How the fanout function's stream reads behave, in AWS and in local mode's event source mapping. A record that keeps failing
 * is dropped after these bounds: the message itself is stored, so a client
 * that sees the seq gap fetches it with `history`; live delivery is what is lost.
 */
export const FANOUT_STREAM = {
  batchSize: 100,
  retryAttempts: 5,
  maxRecordAgeSeconds: 300,
} as const;
