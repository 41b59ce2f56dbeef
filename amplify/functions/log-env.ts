/**
 * Logging settings shared by resource.ts (the deployed environment) and
 * functions/log.ts (its fallback when the variables are unset). No imports
 * beyond a type: resource.ts runs in the CDK synth, log.ts in the bundle.
 */
import type { FunctionName } from '../realtime/permissions';

export const serviceName = (fn: FunctionName): string => `parley-${fn}`;

/** Powertools reads both at cold start; change the level per function without a deploy of code. */
export const loggingEnvironment = (fn: FunctionName): Record<string, string> => ({
  POWERTOOLS_SERVICE_NAME: serviceName(fn),
  POWERTOOLS_LOG_LEVEL: 'INFO',
});
