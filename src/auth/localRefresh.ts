import type { cognitoUserPoolsTokenProvider } from 'aws-amplify/auth/cognito';
import { initiateAuth } from './cognitoApi';

type TokenRefresher = Parameters<typeof cognitoUserPoolsTokenProvider.tokenOrchestrator.setTokenRefresher>[0];
type CognitoTokens = Awaited<ReturnType<TokenRefresher>>;
type Jwt = CognitoTokens['accessToken'];

function decodeJwt(token: string): Jwt {
  const part = token.split('.')[1];
  if (!part) throw new Error('Malformed token');
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  return { payload: JSON.parse(json) as Jwt['payload'], toString: () => token };
}

/**
 * Refreshes tokens with InitiateAuth REFRESH_TOKEN_AUTH, which cognito-local
 * implements, instead of GetTokensFromRefreshToken, which it does not.
 * Only local mode uses this; real Cognito keeps Amplify's own refresher.
 */
export function localTokenRefresher(endpoint: string, clientId: string, fetchImpl: typeof fetch = fetch): TokenRefresher {
  return async ({ tokens, username }) => {
    if (!tokens.refreshToken) throw new Error('No refresh token');
    // A CognitoError carries the pool's __type as its name, which Amplify reads to decide whether to sign out.
    const result = await initiateAuth(
      { endpoint, clientId },
      { AuthFlow: 'REFRESH_TOKEN_AUTH', AuthParameters: { REFRESH_TOKEN: tokens.refreshToken } },
      fetchImpl,
    );
    const accessToken = decodeJwt(result.AccessToken);
    const iat = Number(accessToken.payload.iat ?? Math.floor(Date.now() / 1000));
    return {
      accessToken,
      idToken: result.IdToken ? decodeJwt(result.IdToken) : undefined,
      refreshToken: result.RefreshToken ?? tokens.refreshToken,
      clockDrift: iat * 1000 - Date.now(),
      username,
    };
  };
}
