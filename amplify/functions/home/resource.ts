import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction, type RealtimeFunctionProps } from '../../realtime/function';
import { homeFunctionName } from '../../regions/names';
import { deploymentIdOf } from '../../realtime/deployment';
import { loggingEnvironment } from '../log-env';

/**
 * A room's home: the writes only the home region may make, invoked by other
 * regions' chat functions (core/home.ts). Its name is fixed
 * (regions/names.ts) so those regions name it without a cross-region reference.
 * 512 MB: a send here also posts to this region's sockets in the room, like chat.
 * 7 s: under the caller's 8 s invoke timeout (core/deps.ts), so the caller
 * never gives up on a write that then completes.
 */
export const homeFunction = {
  name: 'home',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: "Parley: Runs a room's writes in its home region for other regions",
  memoryMB: 512,
  timeoutSeconds: 7,
  environment: loggingEnvironment('home'),
  functionName: (scope) => homeFunctionName(deploymentIdOf(scope)),
} satisfies RealtimeFunctionProps;

export const home = defineRealtimeFunction(homeFunction);
