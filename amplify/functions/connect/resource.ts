import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction, type RealtimeFunctionProps } from '../../realtime/function';
import { loggingEnvironment } from '../log-env';

/**
 * $connect: writes the connection row, its lobby row and one of the user's 10
 * socket slots side by side, bumps the lobby's membership version, and for a
 * user's first socket reads the lobby and announces them there (presence
 * posts, none above 200 people). The authorizer has already checked the
 * token and its name claim. 256 MB / 10 s: API Gateway waits for this before
 * the socket opens, so it must be quick, not big.
 */
export const connectFunction = {
  name: 'connect',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: 'Parley: Registers a WebSocket connection, seats it in the lobby, announces its user',
  memoryMB: 256,
  timeoutSeconds: 10,
  environment: loggingEnvironment('connect'),
} satisfies RealtimeFunctionProps;

export const connect = defineRealtimeFunction(connectFunction);
