import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { authConfigFromEnv } from '../../core/config';
import { createDocumentClient } from '../../core/deps';
import { createTokenVerifier, policy, withClaimedName, type AuthorizerResult } from '../../core/identity';

// Built once: the verifier caches the pool's JWKS, and claimed names, across warm invocations.
const config = authConfigFromEnv();
const verify = withClaimedName(createTokenVerifier(config), { db: createDocumentClient(), table: config.usersTable });

/**
 * $connect authorizer. Every failure is a Deny (403), never a throw, so a bad
 * token can neither crash the function nor tell an attacker which check failed.
 */
export const handler = async (event: APIGatewayRequestAuthorizerEvent): Promise<AuthorizerResult> => {
  const token = event.queryStringParameters?.token;
  if (!token) return policy('Deny', event.methodArn);
  try {
    return policy('Allow', event.methodArn, await verify(token));
  } catch (err) {
    console.info(JSON.stringify({ msg: 'token rejected', reason: err instanceof Error ? err.constructor.name : 'unknown' }));
    return policy('Deny', event.methodArn);
  }
};
