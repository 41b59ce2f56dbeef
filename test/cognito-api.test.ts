/**
 * The fetch-based Cognito helper the local refresher, local tooling and tests
 * share (src/auth/cognitoApi.ts): what it sends, and how refusals are named,
 * since Amplify reads the name to decide whether a failed refresh signs out.
 */
import { describe, expect, it } from 'vitest';
import { CognitoError, cognitoCall, initiateAuth } from '../src/auth/cognitoApi';

/** A fetch that answers every call with `status` and `body`, recording the requests. */
function answering(status: number, body: unknown) {
  const requests: { url: string; init: RequestInit }[] = [];
  const fetchImpl = (url: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(url), init: init ?? {} });
    return Promise.resolve(new Response(JSON.stringify(body), { status }));
  };
  return { fetchImpl: fetchImpl as typeof fetch, requests };
}

const pool = { endpoint: 'http://cognito.test', clientId: 'client-1' };

describe('cognitoApi', () => {
  it('speaks Cognito’s JSON protocol: one POST, the operation in x-amz-target', async () => {
    const { fetchImpl, requests } = answering(200, { AuthenticationResult: { AccessToken: 'a', IdToken: 'i' } });
    const result = await initiateAuth(pool, { AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'u', PASSWORD: 'p' } }, fetchImpl);
    expect(result).toEqual({ AccessToken: 'a', IdToken: 'i' });
    expect(requests).toHaveLength(1);
    const [{ url, init }] = requests as [{ url: string; init: RequestInit }];
    expect(url).toBe(pool.endpoint);
    expect(init.method).toBe('POST');
    expect(init.headers).toMatchObject({ 'x-amz-target': 'AWSCognitoIdentityProviderService.InitiateAuth', 'content-type': 'application/x-amz-json-1.1' });
    expect(JSON.parse(String(init.body))).toEqual({ AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'u', PASSWORD: 'p' }, ClientId: 'client-1' });
  });

  it('names a refusal by the pool’s __type and keeps its message', async () => {
    const { fetchImpl } = answering(400, { __type: 'NotAuthorizedException', message: 'Refresh Token has expired' });
    const call = cognitoCall(pool.endpoint, 'InitiateAuth', {}, fetchImpl);
    await expect(call).rejects.toBeInstanceOf(CognitoError);
    await expect(call).rejects.toMatchObject({ name: 'NotAuthorizedException', status: 400, message: 'InitiateAuth: NotAuthorizedException Refresh Token has expired' });
  });

  it('does not call an untyped server failure NotAuthorized, so Amplify keeps the tokens for a retry', async () => {
    const { fetchImpl } = answering(503, 'not json at all');
    await expect(cognitoCall(pool.endpoint, 'InitiateAuth', {}, fetchImpl)).rejects.toMatchObject({ name: 'CognitoError', status: 503 });
  });

  it('treats an answer without tokens (a challenge) as NotAuthorized', async () => {
    const { fetchImpl } = answering(200, { ChallengeName: 'NEW_PASSWORD_REQUIRED' });
    const refresh = initiateAuth(pool, { AuthFlow: 'REFRESH_TOKEN_AUTH', AuthParameters: { REFRESH_TOKEN: 'r' } }, fetchImpl);
    await expect(refresh).rejects.toMatchObject({ name: 'NotAuthorizedException' });
  });
});
