/**
 * cognito-local as the user pool, with the Pre sign-up trigger's code
 * (claimAtSignUp, the body of amplify/auth/pre-sign-up/handler.ts) behind a
 * local Lambda Invoke endpoint, claiming names in a users table on DynamoDB Local. Two gaps
 * against real Cognito are bridged here, not in product code: its ID tokens
 * omit standard attributes such as preferred_username, so a local Pre Token
 * Generation trigger adds it (as a Cognito trigger could in AWS), and it
 * signs up with a fixed code so a person can confirm without email.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PreSignUpTriggerEvent } from 'aws-lambda';
import { claimAtSignUp, claimName, type Registry } from '../amplify/core/users';
import { USERS_TABLE } from '../amplify/realtime/tables';
import { cognitoCall, initiateAuth, type AuthenticationResult } from '../src/auth/cognitoApi';
import { createTable, dynamoClient } from './dynamodb';
import { startLambdaService, type LambdaFunction as Trigger } from './lambda';
import { assertPortsFree, freePort, startChild, waitUntil, type Child } from './process';

export const CONFIRMATION_CODE = '123456';
export const LOCAL_PASSWORD = 'Parley-local-1';

export interface LocalCognito {
  endpoint: string;
  userPoolId: string;
  clientId: string;
  issuer: string;
  /** The name registry the Pre sign-up trigger writes and the authorizer reads. */
  usersTable: string;
  stop(): Promise<void>;
}

/** Re-exported for tooling and tests that already reach cognito-local through this module. */
export { cognitoCall };

interface TriggerEvent {
  request?: { userAttributes?: Record<string, string> };
}

const TRIGGERS = { preSignUp: 'parley-pre-sign-up', preTokenGeneration: 'parley-pre-token' } as const;

/** The local bridge: put the chat name in the ID token, as real Cognito does for standard attributes. */
const preTokenGeneration: Trigger = async (event) => {
  const name = (event as TriggerEvent).request?.userAttributes?.preferred_username;
  return { ...event, response: { claimsOverrideDetails: { claimsToAddOrOverride: name ? { preferred_username: name } : {} } } };
};

/**
 * This instance's users table on DynamoDB Local. The trigger gets the Pre
 * sign-up handler's body (claimAtSignUp) on it rather than the handler module:
 * a process may run one cognito-local per vitest project, and a handler reads
 * its environment once, at import.
 */
async function localRegistry(dynamoEndpoint: string): Promise<Registry> {
  const table = `parley-users-${randomBytes(4).toString('hex')}`;
  const ddb = dynamoClient(dynamoEndpoint);
  await createTable(ddb, USERS_TABLE, table);
  return { db: DynamoDBDocumentClient.from(ddb), table };
}

export async function startCognito(opts: { port?: number; dataDir: string; dynamoEndpoint: string; echo?: boolean }): Promise<LocalCognito> {
  // A stray cognito-local on a fixed port would pass the readiness probe below in place of ours.
  if (opts.port !== undefined) await assertPortsFree([{ port: opts.port, name: 'cognito-local' }]);
  const port = opts.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const registry = await localRegistry(opts.dynamoEndpoint);
  const preSignUp: Trigger = (event) => claimAtSignUp(registry, event as unknown as PreSignUpTriggerEvent);
  const trigger = await startLambdaService({ [TRIGGERS.preSignUp]: preSignUp, [TRIGGERS.preTokenGeneration]: preTokenGeneration });
  const stateDir = join(opts.dataDir, '.cognito');
  mkdirSync(join(stateDir, 'db'), { recursive: true });
  writeFileSync(
    join(stateDir, 'config.json'),
    JSON.stringify({
      TokenConfig: { IssuerDomain: endpoint },
      TriggerFunctions: { PreSignUp: TRIGGERS.preSignUp, PreTokenGeneration: TRIGGERS.preTokenGeneration },
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
    registry.db.destroy();
    throw err;
  }
  const { userPoolId, clientId } = await ensurePool(endpoint);
  await backfillClaims(endpoint, userPoolId, registry);
  return {
    endpoint,
    userPoolId,
    clientId,
    issuer: `${endpoint}/${userPoolId}`,
    usersTable: registry.table,
    async stop() {
      await child.stop();
      await new Promise((r) => trigger.server.close(r));
      registry.db.destroy();
    },
  };
}

/**
 * Local accounts outlive DynamoDB Local (in memory), so names that accounts
 * from an earlier run claimed are claimed again, oldest account first, before
 * anyone can connect. In AWS the registry is a retained table and needs none of this.
 */
async function backfillClaims(endpoint: string, userPoolId: string, registry: Registry): Promise<void> {
  type User = { Username: string; UserCreateDate?: number; Attributes?: { Name: string; Value: string }[] };
  const users: User[] = [];
  let token: string | undefined;
  do {
    const page = await cognitoCall<{ Users?: User[]; PaginationToken?: string }>(endpoint, 'ListUsers', {
      UserPoolId: userPoolId,
      Limit: 60,
      ...(token ? { PaginationToken: token } : {}),
    });
    users.push(...(page.Users ?? []));
    token = page.PaginationToken;
  } while (token);
  users.sort((a, b) => (a.UserCreateDate ?? 0) - (b.UserCreateDate ?? 0));
  for (const user of users) {
    const attr = (name: string) => user.Attributes?.find((a) => a.Name === name)?.Value;
    const name = attr('preferred_username');
    if (name) await claimName(registry, { userId: attr('sub') ?? user.Username, userName: name });
  }
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
      // Immutable, as deployed: cognito-local refuses UpdateUserAttributes on it, as Cognito does.
      Schema: [{ Name: 'preferred_username', AttributeDataType: 'String', Mutable: false, Required: true }],
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
  const signIn = async () => {
    const result = await localSignIn(cognito, email);
    if (!result.IdToken) throw new Error(`cognito-local signed ${email} in without an ID token`);
    return result.IdToken;
  };
  const exists = await cognitoCall(cognito.endpoint, 'AdminGetUser', { UserPoolId: cognito.userPoolId, Username: email }).then(
    () => true,
    (err: Error) => {
      if (err.name === 'UserNotFoundException') return false;
      throw err;
    },
  );
  if (exists) return signIn();
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
  return signIn();
}

/** Signs an existing local account in with the local password: every token cognito-local issues for it. */
export function localSignIn(cognito: Pick<LocalCognito, 'endpoint' | 'clientId'>, email: string): Promise<AuthenticationResult> {
  return initiateAuth(cognito, { AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: email, PASSWORD: LOCAL_PASSWORD } });
}
