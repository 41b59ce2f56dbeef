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
