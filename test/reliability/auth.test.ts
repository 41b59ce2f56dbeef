/**
 * Auth at connect and authorization after it. Every bad token is refused
 * before a socket exists, and the authorizer answers Deny rather than throw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { localSignIn } from '../../local/cognito';
import { asFunction } from '../../local/iam';
import type { LocalStack } from '../../local/stack';
import { TestClient } from '../support/client';
import { cognitoLocalKey, decode, signJwt, strangerKey, unsignedJwt } from '../support/jwt';
import { closeStack, testStack } from '../support/stack';

let stack: LocalStack;
let good: string;
let claims: Record<string, unknown>;
let accessToken: string;
let authorize: (event: APIGatewayRequestAuthorizerEvent) => Promise<{ policyDocument: { Statement: { Effect: string }[] }; context?: unknown }>;

const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  stack = await testStack();
  good = await stack.token('trent');
  claims = decode(good);
  // Access tokens come from the same sign-in; cognito-local returns both.
  accessToken = (await localSignIn(stack.cognito, 'trent@parley.local')).AccessToken;
  // Called directly, but as the authorizer function, so its AWS calls count against the authorizer's grants.
  authorize = asFunction('authorizer', (await import('../../amplify/functions/authorizer/handler')).handler) as unknown as typeof authorize;
});
afterAll(() => closeStack(stack));

const forged = (): [string, () => string][] => {
  const key = cognitoLocalKey();
  return [
    ['malformed', () => 'not-a-jwt'],
    ['three dots of garbage', () => 'a.b.c'],
    ['expired', () => signJwt({ ...claims, iat: now() - 7200, exp: now() - 3600 }, key)],
    ['not yet valid', () => signJwt({ ...claims, iat: now() + 3600, nbf: now() + 3600, exp: now() + 7200 }, key)],
    ['alg none', () => unsignedJwt(claims)],
    ['signed by another key', () => signJwt(claims, strangerKey())],
    ['for another app client', () => signJwt({ ...claims, aud: 'someone-elses-client' }, key)],
    ['from another issuer', () => signJwt({ ...claims, iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_evil' }, key)],
    ['an access token', () => accessToken],
    ['an ID token with token_use=access', () => signJwt({ ...claims, token_use: 'access' }, key)],
    ['a token with its signature stripped', () => good.split('.').slice(0, 2).join('.') + '.'],
    ['a token with a tampered payload', () => `${good.split('.')[0]}.${Buffer.from(JSON.stringify({ ...claims, preferred_username: 'admin' })).toString('base64url')}.${good.split('.')[2]}`],
  ];
};

describe('auth at connect', () => {
  it('accepts a real cognito-local ID token', async () => {
    const c = await TestClient.connect(stack.websocketUrl, good);
    expect((await c.request('pong', { action: 'ping' })).type).toBe('pong');
    await c.close();
  });

  it('answers 401 without a token, as API Gateway does before invoking the authorizer', async () => {
    expect(await TestClient.refusal(stack.websocketUrl)).toBe(401);
    expect(await TestClient.refusal(`${stack.websocketUrl}?token=`)).toBe(401);
  });

  it.each(forged())('refuses %s with 403, and the authorizer answers Deny without throwing', async (_name, make) => {
    const token = make();
    expect(await TestClient.refusal(`${stack.websocketUrl}?token=${encodeURIComponent(token)}`)).toBe(403);
    const methodArn = 'arn:aws:execute-api:local:000000000000:local/production/$connect';
    const result = await authorize({ type: 'REQUEST', methodArn, queryStringParameters: { token } } as unknown as APIGatewayRequestAuthorizerEvent);
    expect(result.policyDocument.Statement[0]?.Effect).toBe('Deny');
    expect(result.context).toBeUndefined();
  });

  it('opens no connection for any of those refusals', async () => {
    // Its own refusals and its own baseline, so it holds alone and in any order.
    const before = new Set(stack.gateway.listConnections().map((c) => c.connectionId));
    expect(await TestClient.refusal(stack.websocketUrl)).toBe(401);
    for (const [, make] of forged()) expect(await TestClient.refusal(`${stack.websocketUrl}?token=${encodeURIComponent(make())}`)).toBe(403);
    await stack.gateway.settled();
    expect(stack.gateway.listConnections().filter((c) => !before.has(c.connectionId))).toEqual([]);
  });
});

describe('authorization', () => {
  it('keeps a stranger from reading, posting to or learning the members of a private room', async () => {
    const owner = await TestClient.connect(stack.websocketUrl, await stack.token('uma'));
    const stranger = await TestClient.connect(stack.websocketUrl, await stack.token('walt'));
    await owner.request('joined', { action: 'createroom', room: 'vault', private: true });
    await owner.request('ack', { action: 'sendmessage', room: 'vault', message: 'the combination is 1234' });
    for (const action of [
      { action: 'joinroom', room: 'vault' },
      { action: 'history', room: 'vault' },
      { action: 'history', room: 'vault', after: 0 },
      { action: 'sendmessage', room: 'vault', message: 'hi' },
      { action: 'typing', room: 'vault' },
      { action: 'leaveroom', room: 'vault' },
    ] as const) {
      const res = await stranger.reply(action);
      expect(res.type).toBe('error');
    }
    // A barrier, not a sleep: once the handlers have settled, a pong to each comes after anything they posted.
    await stack.gateway.settled();
    await Promise.all([stranger.request('pong', { action: 'ping' }), owner.request('pong', { action: 'ping' })]);
    const leaked = JSON.stringify(stranger.events);
    expect(leaked).not.toContain('combination');
    expect(leaked).not.toContain('"room":"vault","event"');
    const presenceAtOwner = owner.events.filter((e) => e.type === 'presence' && e.room === 'vault');
    expect(presenceAtOwner).toEqual([]);
    await Promise.all([owner.close(), stranger.close()]);
  });
});
