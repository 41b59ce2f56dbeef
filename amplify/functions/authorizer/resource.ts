import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction, type RealtimeFunctionProps } from '../../realtime/function';
import { loggingEnvironment } from '../log-env';

/**
 * $connect authorizer: verifies the Cognito ID token from `?token=` (aws-jwt-verify).
 * 256 MB: RS256 verification is CPU work and Lambda CPU scales with memory;
 * 128 MB makes the first verify (and the JWKS fetch) visibly slower. It runs on
 * every connect (WebSocket authorizers are not cached), so keep it snappy.
 * 10 s: only the cold-start JWKS download touches the network.
 */
export const authorizerFunction = {
  name: 'authorizer',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: 'Parley: Verifies the Cognito ID token on $connect',
  memoryMB: 256,
  timeoutSeconds: 10,
  environment: loggingEnvironment('authorizer'),
} satisfies RealtimeFunctionProps;

export const authorizer = defineRealtimeFunction(authorizerFunction);
