/**
 * Cognito's user-pool JSON protocol over plain fetch, without the SDK: the one
 * copy the local refresher (bundled into the app), local tooling (local/cognito.ts)
 * and tests share. Nothing here may need Node: the browser bundles it.
 */

/** A refusal from the pool, named by its `__type` (e.g. NotAuthorizedException), as Amplify and the SDK name theirs. */
export class CognitoError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = type;
  }
}

/** Calls one operation (InitiateAuth, SignUp, AdminGetUser, ...) and returns its JSON answer, or throws CognitoError. */
export async function cognitoCall<T = Record<string, unknown>>(
  endpoint: string,
  operation: string,
  body: object,
  fetchImpl: typeof fetch = fetch,
): Promise<T> {
  const res = await fetchImpl(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AWSCognitoIdentityProviderService.${operation}` },
    body: JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as { __type?: unknown; message?: unknown };
  if (!res.ok) {
    const type = typeof json.__type === 'string' ? json.__type : 'CognitoError';
    const message = typeof json.message === 'string' ? json.message : `HTTP ${res.status}`;
    throw new CognitoError(type, `${operation}: ${type} ${message}`, res.status);
  }
  return json as T;
}

export interface AuthenticationResult {
  AccessToken: string;
  IdToken?: string;
  /** Absent on REFRESH_TOKEN_AUTH unless the pool rotates refresh tokens. */
  RefreshToken?: string;
  ExpiresIn?: number;
}

export type InitiateAuthFlow =
  | { AuthFlow: 'USER_PASSWORD_AUTH'; AuthParameters: { USERNAME: string; PASSWORD: string } }
  | { AuthFlow: 'REFRESH_TOKEN_AUTH'; AuthParameters: { REFRESH_TOKEN: string } };

/**
 * InitiateAuth for the two flows cognito-local implements. An answer without
 * tokens (a challenge, which Parley's pool never sets) counts as NotAuthorized.
 */
export async function initiateAuth(
  pool: { endpoint: string; clientId: string },
  flow: InitiateAuthFlow,
  fetchImpl: typeof fetch = fetch,
): Promise<AuthenticationResult> {
  const res = await cognitoCall<{ AuthenticationResult?: AuthenticationResult }>(pool.endpoint, 'InitiateAuth', { ...flow, ClientId: pool.clientId }, fetchImpl);
  const result = res.AuthenticationResult;
  if (!result?.AccessToken) throw new CognitoError('NotAuthorizedException', `InitiateAuth ${flow.AuthFlow} returned no tokens`, 200);
  return result;
}
