/**
 * The part of amplify_outputs.json that the secondary regions are built from
 * (the primary's user pool, the replicated tables, the deployment id), and
 * the merge that writes every region's endpoint back into it. No CDK imports:
 * the CDK app, the deploy script and tests share it.
 */
import type { RegionEndpoint } from './list';

/** What the primary publishes under custom.deployment (amplify/backend.ts). */
export interface PrimaryDeployment {
  /** regions/names.ts deploymentId: every physical name shared across regions derives from it. */
  id: string;
  /** The regions the primary's tables replicate to, primary first. */
  regions: string[];
  /** Sandbox or pull-request preview: secondaries delete their tables too. */
  ephemeral: boolean;
  /** Physical names of the global tables; every replica has the same name. */
  tables: { chat: string; users: string };
}

/** Everything a secondary stack needs from the primary. */
export interface PrimaryOutputs {
  primaryRegion: string;
  userPoolId: string;
  userPoolClientId: string;
  /** The primary's own endpoint (custom.regions[0]). */
  primary: RegionEndpoint;
  deployment: PrimaryDeployment;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Json, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new Error(`amplify_outputs.json: ${where}.${key} is missing`);
  return v;
}

/** Checks and picks the primary's outputs; a missing field names itself, so a half-deployed primary fails loudly. */
export function primaryOutputs(outputs: unknown): PrimaryOutputs {
  if (!isObject(outputs)) throw new Error('amplify_outputs.json is not an object');
  const auth = outputs.auth;
  const custom = outputs.custom;
  if (!isObject(auth)) throw new Error('amplify_outputs.json: auth is missing (deploy the primary first)');
  if (!isObject(custom)) throw new Error('amplify_outputs.json: custom is missing (deploy the primary first)');
  const d = custom.deployment;
  if (!isObject(d)) throw new Error('amplify_outputs.json: custom.deployment is missing (a primary from before multi-region?)');
  const tables = d.tables;
  if (!isObject(tables)) throw new Error('amplify_outputs.json: custom.deployment.tables is missing');
  const regions = d.regions;
  if (!Array.isArray(regions) || regions.length === 0 || !regions.every((r): r is string => typeof r === 'string' && r !== '')) {
    throw new Error('amplify_outputs.json: custom.deployment.regions must list regions');
  }
  const primaryRegion = str(custom, 'region', 'custom');
  if (regions[0] !== primaryRegion) {
    throw new Error(`amplify_outputs.json: the primary deployed to ${primaryRegion}, but its tables list ${regions[0]} first`);
  }
  return {
    primaryRegion,
    userPoolId: str(auth, 'user_pool_id', 'auth'),
    userPoolClientId: str(auth, 'user_pool_client_id', 'auth'),
    primary: { region: primaryRegion, websocketUrl: str(custom, 'websocketUrl', 'custom') },
    deployment: {
      id: str(d, 'id', 'custom.deployment'),
      regions,
      ephemeral: d.ephemeral === true,
      tables: { chat: str(tables, 'chat', 'custom.deployment.tables'), users: str(tables, 'users', 'custom.deployment.tables') },
    },
  };
}

/** The secondary regions: every region of the deployment but the primary. */
export const secondaryRegions = (p: PrimaryOutputs): string[] => p.deployment.regions.slice(1);

/**
 * amplify_outputs.json with custom.regions set to every region's endpoint,
 * primary first and in the deployment's order; custom.websocketUrl and
 * custom.region stay the primary's. Throws if a region has no endpoint.
 */
export function withRegionEndpoints(outputs: Json, endpoints: Record<string, string>): Json {
  const p = primaryOutputs(outputs);
  const all = { ...endpoints, [p.primaryRegion]: p.primary.websocketUrl };
  const regions: RegionEndpoint[] = p.deployment.regions.map((region) => {
    const websocketUrl = all[region];
    if (!websocketUrl) throw new Error(`no endpoint for ${region}: did its stack deploy?`);
    return { region, websocketUrl };
  });
  return { ...outputs, custom: { ...(outputs.custom as Json), regions } };
}
