/** Environment variable names through which functions learn their configuration. */
export const ENV = {
  connectionsTable: 'PARLEY_CONNECTIONS_TABLE',
  chatTable: 'PARLEY_CHAT_TABLE',
  usersTable: 'PARLEY_USERS_TABLE',
  /** Local mode only: where @connections lives (AWS derives it from the event). */
  managementEndpoint: 'PARLEY_MANAGEMENT_ENDPOINT',
  userPoolId: 'PARLEY_USER_POOL_ID',
  userPoolClientId: 'PARLEY_USER_POOL_CLIENT_ID',
  /** Local mode only: cognito-local's issuer, e.g. http://127.0.0.1:9229/<poolId>. */
  tokenIssuer: 'PARLEY_TOKEN_ISSUER',
  fanoutConcurrency: 'PARLEY_FANOUT_CONCURRENCY',
  homeRegion: 'PARLEY_HOME_REGION',
} as const;

/** Everything a function learns from its environment, read once at cold start. */
export interface ChatConfig {
  region: string;
  tables: { connections: string; chat: string; users: string };
  /** Local mode only. In AWS the endpoint is derived from each event's requestContext. */
  managementEndpoint?: string;
  fanoutConcurrency: number;
  /** The region whose writes order a room's messages (see README, "Global reach"). */
  homeRegion: string;
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`Missing environment variable ${name}`);
  return value;
}

/**
 * An optional whole number in [1, max]: unset gives the default, anything
 * else that is not one throws at cold start, naming the variable, rather than
 * quietly running with a value nobody chose.
 */
function positiveInteger(env: Env, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(raw)}`);
  }
  return value;
}

export function chatConfigFromEnv(env: Env = process.env): ChatConfig {
  const region = env.AWS_REGION ?? 'local';
  return {
    region,
    tables: {
      connections: required(env, ENV.connectionsTable),
      chat: required(env, ENV.chatTable),
      users: required(env, ENV.usersTable),
    },
    managementEndpoint: env[ENV.managementEndpoint] || undefined,
    fanoutConcurrency: positiveInteger(env, ENV.fanoutConcurrency, 64, 1000),
    homeRegion: env[ENV.homeRegion] ?? region,
  };
}

/** The name registry's table, for the Pre sign-up trigger (which needs nothing else). */
export const usersTableFromEnv = (env: Env = process.env): string => required(env, ENV.usersTable);

export interface AuthConfig {
  userPoolId: string;
  clientId: string;
  /** Set in local mode: cognito-local's issuer. Unset in AWS, where the pool id implies it. */
  issuer?: string;
  /** The name registry, against which a token's name is checked. */
  usersTable: string;
}

export function authConfigFromEnv(env: Env = process.env): AuthConfig {
  return {
    userPoolId: required(env, ENV.userPoolId),
    clientId: required(env, ENV.userPoolClientId),
    issuer: env[ENV.tokenIssuer] || undefined,
    usersTable: usersTableFromEnv(env),
  };
}
