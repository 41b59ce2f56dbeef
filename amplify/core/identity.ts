import { CognitoJwtVerifier, JwtRsaVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';
import * as v from 'valibot';
import type { AuthConfig } from './config';
import type { Identity } from './connections';

export type TokenVerifier = (token: string) => Promise<Identity>;

const Claims = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  preferred_username: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
  'cognito:username': v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
});

export function identityFromClaims(payload: JwtPayload): Identity {
  const claims = v.parse(Claims, payload);
  const userName = claims.preferred_username ?? claims['cognito:username'];
  if (!userName) throw new Error('Token has no user name');
  return { userId: claims.sub, userName };
}

/**
 * Verifies Cognito ID tokens: signature against the pool's JWKS, issuer,
 * audience (this app client), expiry and token_use = id. In AWS the pool id
 * implies issuer and JWKS; local mode names cognito-local's issuer instead.
 */
export function createTokenVerifier(config: AuthConfig): TokenVerifier {
  if (config.issuer) {
    const verifier = JwtRsaVerifier.create({
      issuer: config.issuer,
      audience: config.clientId,
      jwksUri: `${config.issuer}/.well-known/jwks.json`,
      customJwtCheck: ({ payload }) => {
        if (payload.token_use !== 'id') throw new Error('Not an ID token');
      },
    }, { jwksCache: new SimpleJwksCache({ fetcher: { fetch: plainHttpFetch } }) });
    return async (token) => identityFromClaims(await verifier.verify(token));
  }
  const verifier = CognitoJwtVerifier.create({ userPoolId: config.userPoolId, tokenUse: 'id', clientId: config.clientId });
  return async (token) => identityFromClaims(await verifier.verify(token));
}

/** cognito-local serves its JWKS over plain http, which the library's https-only fetcher refuses. */
async function plainHttpFetch(uri: string): Promise<ArrayBuffer> {
  const res = await fetch(uri, { signal: AbortSignal.timeout(3000) });
  if (res.status !== 200) throw new Error(`JWKS fetch ${uri} answered ${res.status}`);
  return res.arrayBuffer();
}

export interface AuthorizerResult {
  principalId: string;
  policyDocument: {
    Version: '2012-10-17';
    Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[];
  };
  context?: { userId: string; userName: string };
}

export function policy(effect: 'Allow' | 'Deny', resource: string, who?: Identity): AuthorizerResult {
  return {
    principalId: who?.userId ?? 'anonymous',
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
    ...(who ? { context: { userId: who.userId, userName: who.userName } } : {}),
  };
}

const AuthorizerContext = v.object({ userId: v.pipe(v.string(), v.minLength(1)), userName: v.pipe(v.string(), v.minLength(1)) });

/** Identity for every route comes from the authorizer's context, never from a frame. */
export function identityFromRequestContext(requestContext: { authorizer?: unknown }): Identity {
  const parsed = v.safeParse(AuthorizerContext, requestContext.authorizer);
  if (!parsed.success) throw new Error('Request has no authorizer context');
  return { userId: parsed.output.userId, userName: parsed.output.userName };
}
