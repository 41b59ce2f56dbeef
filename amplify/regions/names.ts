/**
 * Names that must be the same in every region without any cross-region
 * reference: each region's home function, the secondary stacks, and which
 * regions a synth spans. No CDK imports: the primary backend, the secondary
 * CDK app, the deploy script and tests all import it.
 */
import { createHash } from 'node:crypto';
import type { RegionRoute } from '../core/config';
import { REGIONS } from './list';

/** Lambda's limit on a function name. */
export const FUNCTION_NAME_MAX = 64;
/** CloudFormation's limit on a stack name. */
export const STACK_NAME_MAX = 128;

/** Every home function's name starts so: what a grant to invoke homes, and local mode's IAM check, match on. */
export const HOME_PREFIX = 'parley-home-';

/**
 * One Amplify backend (an app's branch, or one person's sandbox): the
 * namespace (app id, or the project for a sandbox) and the name (branch or
 * sandbox identifier) Amplify gives it. Its secondary regions carry the same id.
 */
export function deploymentId(namespace: string, name: string): string {
  if (!namespace || !name) throw new Error('deploymentId needs the Amplify backend namespace and name');
  const slug = `${namespace}-${name}`.replace(/[^A-Za-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
  // The hash keeps two ids apart that the slug folds together (feature/a and feature-a).
  const hash = createHash('sha256').update(`${namespace}\0${name}`).digest('hex').slice(0, 8);
  // Room for the longest prefix (the home function's) within Lambda's 64.
  const room = FUNCTION_NAME_MAX - HOME_PREFIX.length - hash.length - 1;
  return `${slug.slice(0, room).replace(/-$/, '')}-${hash}`;
}

/**
 * The home function's physical name, the same in every region (Lambda names
 * are per region), so another region's chat function names it exactly.
 */
export function homeFunctionName(deployment: string): string {
  const name = `${HOME_PREFIX}${deployment}`;
  if (name.length > FUNCTION_NAME_MAX || !/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad home function name ${name}`);
  return name;
}

/** The CloudFormation stack of one secondary region. */
export function secondaryStackName(deployment: string, region: string): string {
  const name = `parley-${deployment}-${region}`;
  if (name.length > STACK_NAME_MAX) throw new Error(`stack name too long: ${name}`);
  return name;
}

/** PARLEY_REGIONS for a function in `here`: every other region of the deployment and its home function. */
export function otherRegionRoutes(deployment: string, regions: readonly string[], here: string): Record<string, RegionRoute> {
  const home = homeFunctionName(deployment);
  return Object.fromEntries(regions.filter((r) => r !== here).map((r) => [r, { homeFunction: home }]));
}

/**
 * Set to 1/true (or CDK context parley:singleRegion) and the backend spans
 * only its own region: no replicas, no secondary stacks. 0/false forces all
 * of REGIONS, even for a pull-request preview.
 */
export const SINGLE_REGION_ENV = 'PARLEY_SINGLE_REGION';
export const SINGLE_REGION_CONTEXT = 'parley:singleRegion';

/**
 * The regions one synth of the primary spans, primary first. Pull-request
 * previews default to one region: Amplify deletes a preview's backend when
 * the PR closes, but nothing would delete its secondary stacks.
 */
export function deployRegions(opts: { singleRegion?: unknown; pullRequest: boolean }): readonly string[] {
  const raw = opts.singleRegion;
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
  let single: boolean;
  if (text === undefined || text === '') single = opts.pullRequest;
  else if (text === true || text === '1' || text === 'true') single = true;
  else if (text === false || text === '0' || text === 'false') single = false;
  else throw new Error(`${SINGLE_REGION_ENV} must be 1/true or 0/false, not ${JSON.stringify(raw)}`);
  return single ? REGIONS.slice(0, 1) : REGIONS;
}
