import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction, type RealtimeFunctionProps } from '../../realtime/function';
import { loggingEnvironment } from '../log-env';

/**
 * $disconnect: removes the connection and its room rows, tells rooms the user left.
 * 512 MB: presence fan-out is network and CPU bound (JSON + TLS per post) and
 * Lambda CPU grows with memory. 15 s: best-effort clean-up; nobody waits for it.
 */
export const disconnectFunction = {
  name: 'disconnect',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: 'Parley: Cleans up a closed WebSocket connection',
  memoryMB: 512,
  timeoutSeconds: 15,
  environment: loggingEnvironment('disconnect'),
} satisfies RealtimeFunctionProps;

export const disconnect = defineRealtimeFunction(disconnectFunction);
