/**
 * Which backend a synth belongs to, as an id shared by the primary (from
 * Amplify's context) and its secondary regions (from the primary's outputs,
 * passed as CDK context), so both derive the same physical names.
 */
import type { Construct } from 'constructs';
import { deploymentId } from '../regions/names';

/** Set by the secondary-region app (amplify/regions/app.ts) from amplify_outputs.json. */
export const DEPLOYMENT_ID_CONTEXT = 'parley:deploymentId';

export function deploymentIdOf(scope: Construct): string {
  const explicit: unknown = scope.node.tryGetContext(DEPLOYMENT_ID_CONTEXT);
  if (typeof explicit === 'string' && explicit !== '') return explicit;
  const namespace: unknown = scope.node.tryGetContext('amplify-backend-namespace');
  const name: unknown = scope.node.tryGetContext('amplify-backend-name');
  if (typeof namespace !== 'string' || typeof name !== 'string') {
    throw new Error(`No deployment id: set CDK context ${DEPLOYMENT_ID_CONTEXT}, or synthesize through Amplify (amplify-backend-namespace/-name)`);
  }
  return deploymentId(namespace, name);
}
