import { ENV } from '../realtime/tables';

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

export function chatConfigFromEnv(env: Env = process.env): ChatConfig {
  const region = env.AWS_REGION ?? 'local';
  const concurrency = Number(env[ENV.fanoutConcurrency] ?? 64);
  return {
    region,
    tables: {
      connections: required(env, ENV.connectionsTable),
      chat: required(env, ENV.chatTable),
      users: required(env, ENV.usersTable),
    },
    managementEndpoint: env[ENV.managementEndpoint] || undefined,
    fanoutConcurrency: Number.isInteger(concurrency) && concurrency > 0 ? concurrency : 64,
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
