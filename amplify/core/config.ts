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
  /** The primary region: the lobby's home, and where room ids are claimed. Unset: this region. */
  primaryRegion: 'PARLEY_PRIMARY_REGION',
  /** JSON: region -> { homeFunction, endpoint? } for every region of the deployment (see regionsFromEnv). */
  regions: 'PARLEY_REGIONS',
  /** For functions no WebSocket event invokes (home, fanout): this region's @connections endpoint. */
  callbackUrl: 'PARLEY_CALLBACK_URL',
} as const;

/** How to reach one region's home function. `endpoint` only in local mode (the Lambda Invoke stand-in). */
export interface RegionRoute {
  homeFunction: string;
  endpoint?: string;
}

/** Everything a function learns from its environment, read once at cold start. */
export interface ChatConfig {
  region: string;
  tables: { connections: string; chat: string; users: string };
  /** Local mode only. In AWS the endpoint is derived from each event's requestContext. */
  managementEndpoint?: string;
  fanoutConcurrency: number;
  /** This function's region: new rooms created here are homed here. */
  homeRegion: string;
  /** The primary region: the lobby's home, where room ids are claimed. */
  primaryRegion: string;
  /** Every other region's home function, by region. Empty: a single-region deployment. */
  regions: Record<string, RegionRoute>;
  /** @connections endpoint for functions no WebSocket event invokes. */
  callbackUrl?: string;
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

/** This function's region and the primary (unset: this region, a single-region deployment). */
export function chatRegionsFromEnv(env: Env = process.env): { region: string; primaryRegion: string } {
  const region = env.AWS_REGION ?? 'local';
  return { region, primaryRegion: env[ENV.primaryRegion] || region };
}

export function chatConfigFromEnv(env: Env = process.env): ChatConfig {
  const { region, primaryRegion } = chatRegionsFromEnv(env);
  return {
    region,
    tables: {
      connections: required(env, ENV.connectionsTable),
      chat: required(env, ENV.chatTable),
      users: required(env, ENV.usersTable),
    },
    managementEndpoint: env[ENV.managementEndpoint] || undefined,
    fanoutConcurrency: positiveInteger(env, ENV.fanoutConcurrency, 64, 1000),
    homeRegion: region,
    primaryRegion,
    regions: regionsFromEnv(env[ENV.regions]),
    callbackUrl: env[ENV.callbackUrl] || env[ENV.managementEndpoint] || undefined,
  };
}

/** PARLEY_REGIONS, checked at cold start: a typo must fail loudly, not strand a room's sends. */
export function regionsFromEnv(raw: string | undefined): Record<string, RegionRoute> {
  if (raw === undefined || raw === '') return {};
  const fail = (why: string): never => {
    throw new Error(`${ENV.regions} ${why}: ${raw}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return fail('is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('must be an object of regions');
  const out: Record<string, RegionRoute> = {};
  for (const [region, route] of Object.entries(parsed as Record<string, unknown>)) {
    const r = route as Partial<RegionRoute> | null;
    if (!r || typeof r.homeFunction !== 'string' || r.homeFunction === '') fail(`has no homeFunction for ${region}`);
    if (r?.endpoint !== undefined && typeof r.endpoint !== 'string') fail(`has a bad endpoint for ${region}`);
    out[region] = { homeFunction: r!.homeFunction!, ...(r?.endpoint ? { endpoint: r.endpoint } : {}) };
  }
  return out;
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
