/**
 * cognito-local as the user pool. Two gaps against real Cognito are bridged
 * here, not in product code: its ID tokens omit standard attributes such as
 * preferred_username, so a local Pre Token Generation trigger adds it (as a
 * Cognito trigger could in AWS), and it signs up with a fixed code so a
 * person can confirm without email.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort, startChild, waitUntil, type Child } from './process';

export const CONFIRMATION_CODE = '123456';
export const LOCAL_PASSWORD = 'Parley-local-1';

export interface LocalCognito {
  endpoint: string;
  userPoolId: string;
  clientId: string;
  issuer: string;
  stop(): Promise<void>;
}

/** Calls cognito-local through Cognito's own JSON protocol; no SDK needed for a handful of calls. */
export async function cognitoCall<T = Record<string, unknown>>(endpoint: string, operation: string, body: object): Promise<T> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AWSCognitoIdentityProviderService.${operation}` },
    body: JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as T & { __type?: string; message?: string };
  if (!res.ok) {
    const err = new Error(`${operation}: ${json.__type ?? res.status} ${json.message ?? ''}`.trim());
    err.name = String(json.__type ?? 'CognitoError');
    throw err;
  }
  return json;
}

interface TriggerEvent {
  request?: { userAttributes?: Record<string, string> };
}

/** A Lambda Invoke endpoint serving one function: the Pre Token Generation trigger. */
function startTriggerServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      let event: TriggerEvent = {};
      try {
        event = JSON.parse(body) as TriggerEvent;
      } catch {
        // An unparsable event still gets a valid, empty override.
      }
      const name = event.request?.userAttributes?.preferred_username;
      const response = { claimsOverrideDetails: { claimsToAddOrOverride: name ? { preferred_username: name } : {} } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

export async function startCognito(opts: { port?: number; dataDir: string; echo?: boolean }): Promise<LocalCognito> {
  const port = opts.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const trigger = await startTriggerServer();
  const stateDir = join(opts.dataDir, '.cognito');
  mkdirSync(join(stateDir, 'db'), { recursive: true });
  writeFileSync(
    join(stateDir, 'config.json'),
    JSON.stringify({
      TokenConfig: { IssuerDomain: endpoint },
      TriggerFunctions: { PreTokenGeneration: 'parley-pre-token' },
      LambdaClient: { endpoint: `http://127.0.0.1:${trigger.port}`, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
    }),
  );
  const bin = join(dirname(createRequire(import.meta.url).resolve('cognito-local/package.json')), 'lib/bin/start.js');
  let child: Child;
  try {
    child = startChild(process.execPath, [bin], {
      cwd: opts.dataDir,
      name: 'cognito',
      echo: opts.echo,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CODE: CONFIRMATION_CODE },
    });
    await waitUntil('cognito-local', child, async () => {
      await cognitoCall(endpoint, 'ListUserPools', { MaxResults: 1 });
      return true;
    });
  } catch (err) {
    trigger.server.close();
    throw err;
  }
  const { userPoolId, clientId } = await ensurePool(endpoint);
  return {
    endpoint,
    userPoolId,
    clientId,
    issuer: `${endpoint}/${userPoolId}`,
    async stop() {
      await child.stop();
      await new Promise((r) => trigger.server.close(r));
    },
  };
}

const POOL_NAME = 'parley-local';

/** Reuses the pool a previous run left in the data folder, so local accounts survive restarts. */
async function ensurePool(endpoint: string): Promise<{ userPoolId: string; clientId: string }> {
  const pools = await cognitoCall<{ UserPools?: { Id: string; Name: string }[] }>(endpoint, 'ListUserPools', { MaxResults: 60 });
  let userPoolId = pools.UserPools?.find((p) => p.Name === POOL_NAME)?.Id;
  if (!userPoolId) {
    const pool = await cognitoCall<{ UserPool: { Id: string } }>(endpoint, 'CreateUserPool', {
      PoolName: POOL_NAME,
      UsernameAttributes: ['email'],
      AutoVerifiedAttributes: ['email'],
      Schema: [{ Name: 'preferred_username', AttributeDataType: 'String', Mutable: true, Required: true }],
    });
    userPoolId = pool.UserPool.Id;
  }
  const clients = await cognitoCall<{ UserPoolClients?: { ClientId: string }[] }>(endpoint, 'ListUserPoolClients', {
    UserPoolId: userPoolId,
    MaxResults: 10,
  });
  let clientId = clients.UserPoolClients?.[0]?.ClientId;
  if (!clientId) {
    const client = await cognitoCall<{ UserPoolClient: { ClientId: string } }>(endpoint, 'CreateUserPoolClient', {
      UserPoolId: userPoolId,
      ClientName: 'parley-web',
      ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    });
    clientId = client.UserPoolClient.ClientId;
  }
  return { userPoolId, clientId };
}

/** Signs a local user in, creating and confirming them first if needed; returns their ID token. */
export async function localIdToken(cognito: Pick<LocalCognito, 'endpoint' | 'userPoolId' | 'clientId'>, userName: string): Promise<string> {
  const email = `${userName.toLowerCase()}@parley.local`;
  const signIn = () =>
    cognitoCall<{ AuthenticationResult: { IdToken: string } }>(cognito.endpoint, 'InitiateAuth', {
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: cognito.clientId,
      AuthParameters: { USERNAME: email, PASSWORD: LOCAL_PASSWORD },
    });
  const exists = await cognitoCall(cognito.endpoint, 'AdminGetUser', { UserPoolId: cognito.userPoolId, Username: email }).then(
    () => true,
    (err: Error) => {
      if (err.name === 'UserNotFoundException') return false;
      throw err;
    },
  );
  if (exists) return (await signIn()).AuthenticationResult.IdToken;
  await cognitoCall(cognito.endpoint, 'SignUp', {
    ClientId: cognito.clientId,
    Username: email,
    Password: LOCAL_PASSWORD,
    UserAttributes: [
      { Name: 'email', Value: email },
      { Name: 'preferred_username', Value: userName },
    ],
  });
  await cognitoCall(cognito.endpoint, 'AdminConfirmSignUp', { UserPoolId: cognito.userPoolId, Username: email });
  return (await signIn()).AuthenticationResult.IdToken;
}
