import type { APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import * as jwtErrors from 'aws-jwt-verify/error';
import { authConfigFromEnv, chatRegionsFromEnv } from '../../core/config';
import { createDocumentClient } from '../../core/deps';
import { CLAIM_REPLICATION_WAIT_MS, createTokenVerifier, policy, withClaimedName, type AuthorizerResult } from '../../core/identity';
import { functionLog } from '../log';

// Built once: the verifier caches the pool's JWKS, and claimed names, across warm invocations.
const config = authConfigFromEnv();
const { region, primaryRegion } = chatRegionsFromEnv();
const verify = withClaimedName(
  createTokenVerifier(config),
  { db: createDocumentClient(), table: config.usersTable },
  { replicaWaitMs: region === primaryRegion ? 0 : CLAIM_REPLICATION_WAIT_MS },
);
const logs = functionLog('authorizer');

/**
 * $connect authorizer. Every failure is a Deny (403), never a throw, so a bad
 * token can neither crash the function nor tell an attacker which check failed.
 * The log does say which check failed, and never holds the token: the event
 * (query string, headers) is not logged, and reasons are scrubbed of it.
 */
export const handler = async (event: APIGatewayRequestAuthorizerEvent, context?: Context): Promise<AuthorizerResult> => {
  const log = logs.invocation(event.requestContext, context);
  const token = event.queryStringParameters?.token;
  if (!token) {
    log.info('token rejected', { reason: 'no token' });
    return policy('Deny', event.methodArn);
  }
  try {
    const who = await verify(token);
    log.debug('token accepted', { userId: who.userId });
    return policy('Allow', event.methodArn, who);
  } catch (err) {
    // Our side failed (JWKS download, the name registry): every connect is refused until it recovers.
    if (isOurFailure(err)) log.error('token not verified', { reason: rejectionReason(err, token) }, scrubbed(err, token));
    else log.info('token rejected', { reason: rejectionReason(err, token) });
    return policy('Deny', event.methodArn);
  }
};

/** Exported names of aws-jwt-verify's error classes: they set no `name`, and minification renames the classes. */
const JWT_ERROR_NAMES = new Map<unknown, string>(Object.entries(jwtErrors).map(([name, cls]) => [cls, name]));

/** Failures that say nothing about the token: the JWKS download, or the registry's GetItem. */
function isOurFailure(err: unknown): boolean {
  if (err instanceof jwtErrors.FetchError || err instanceof jwtErrors.JwksValidationError || err instanceof jwtErrors.JwksNotAvailableInCacheError) return true;
  if (!(err instanceof Error)) return false;
  // AWS SDK errors carry $metadata; a fetch that timed out or lost its socket carries neither.
  return '$metadata' in err || err.name === 'TimeoutError' || err.name === 'AbortError' || typeof (err as { code?: unknown }).code === 'string';
}

const MAX_REASON_CHARS = 300;

/** "JwtExpiredError: Token expired at …": the class and the message, without the token or any of its parts. */
function rejectionReason(err: unknown, token: string): string {
  if (!(err instanceof Error)) return scrub(`thrown ${typeof err}`, token);
  const name = JWT_ERROR_NAMES.get(err.constructor) ?? err.name;
  return scrub(`${name}: ${err.message}`, token).slice(0, MAX_REASON_CHARS);
}

/** The token and each of its dot-separated parts (a part alone is still its header, claims or signature). */
function scrub(text: string, token: string): string {
  let out = text;
  for (const secret of [token, ...token.split('.')].filter((s) => s.length >= 8)) out = out.split(secret).join('[token]');
  return out;
}

/** The error to log with a failure of ours: same stack and cause, scrubbed in case it quotes the token. */
function scrubbed(err: unknown, token: string): unknown {
  if (!(err instanceof Error)) return err;
  const message = scrub(err.message, token);
  const stack = err.stack === undefined ? undefined : scrub(err.stack, token);
  if (message === err.message && stack === err.stack) return err;
  const copy = new Error(message, { cause: err.cause });
  copy.name = err.name;
  copy.stack = stack;
  return copy;
}
