import { CognitoJwtVerifier, JwtRsaVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';
import * as v from 'valibot';
import type { AuthConfig } from './config';
import type { Authenticated } from './connections';
import { ownsName, type Registry } from './users';

export type TokenVerifier = (token: string) => Promise<Authenticated>;

const Claims = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  preferred_username: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
  exp: v.pipe(v.number(), v.integer()),
});

/** A chat name is required: a token without one (or with any other name than its claim) opens nothing. */
export function identityFromClaims(payload: JwtPayload): Authenticated {
  const claims = v.parse(Claims, payload);
  if (!claims.preferred_username) throw new Error('Token has no chat name');
  return { userId: claims.sub, userName: claims.preferred_username, tokenExp: claims.exp };
}

/**
 * The registry check on top of the signature: the token's name must be the
 * one its user id claimed at sign-up. Names never move, so a positive answer
 * is remembered for this container's life (bounded).
 *
 * Names are claimed in the primary region; another region's replica learns
 * of a claim about a second later. `replicaWaitMs` (set outside the primary)
 * reads again for that long before refusing, so someone who has just signed
 * up can connect to their nearest region at once. A forged name only waits
 * longer for its Deny.
 */
export function withClaimedName(verify: TokenVerifier, registry: Registry, opts: { maxRemembered?: number; replicaWaitMs?: number } = {}): TokenVerifier {
  const { maxRemembered = 10_000, replicaWaitMs = 0 } = opts;
  const owned = new Set<string>();
  return async (token) => {
    const who = await verify(token);
    const key = `${who.userId}\n${who.userName}`;
    if (!owned.has(key)) {
      const deadline = Date.now() + replicaWaitMs;
      while (!(await ownsName(registry, who))) {
        if (Date.now() >= deadline) throw new NameNotClaimed(who.userName);
        await new Promise((r) => setTimeout(r, Math.min(REPLICA_RETRY_MS, Math.max(0, deadline - Date.now()))));
      }
      if (owned.size >= maxRemembered) owned.clear();
      owned.add(key);
    }
    return who;
  };
}

const REPLICA_RETRY_MS = 200;

/** How long a region other than the primary waits for a name's claim to replicate (global tables: typically under a second). */
export const CLAIM_REPLICATION_WAIT_MS = 3_000;

export class NameNotClaimed extends Error {
  constructor(name: string) {
    super(`"${name}" is not this user's chat name`);
    this.name = 'NameNotClaimed';
  }
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
  context?: { userId: string; userName: string; tokenExp?: number };
}

export function policy(effect: 'Allow' | 'Deny', resource: string, who?: Authenticated): AuthorizerResult {
  return {
    principalId: who?.userId ?? 'anonymous',
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
    ...(who
      ? { context: { userId: who.userId, userName: who.userName, ...(who.tokenExp !== undefined ? { tokenExp: who.tokenExp } : {}) } }
      : {}),
  };
}

// API Gateway may hand context numbers on as strings; either way it is the token's exp.
const TokenExp = v.optional(v.pipe(v.union([v.number(), v.pipe(v.string(), v.digits(), v.transform(Number))]), v.integer()));
const AuthorizerContext = v.object({
  userId: v.pipe(v.string(), v.minLength(1)),
  userName: v.pipe(v.string(), v.minLength(1)),
  tokenExp: TokenExp,
});

/** Identity for every route comes from the authorizer's context, never from a frame. */
export function identityFromRequestContext(requestContext: { authorizer?: unknown }): Authenticated {
  const parsed = v.safeParse(AuthorizerContext, requestContext.authorizer);
  if (!parsed.success) throw new Error('Request has no authorizer context');
  const { userId, userName, tokenExp } = parsed.output;
  return { userId, userName, ...(tokenExp !== undefined ? { tokenExp } : {}) };
}
