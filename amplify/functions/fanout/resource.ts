import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction, type RealtimeFunctionProps } from '../../realtime/function';
import { loggingEnvironment } from '../log-env';

/**
 * This region's chat-table stream, filtered to messages other regions wrote
 * (realtime/defaults.ts), posted to this region's sockets (core/replica.ts).
 * 512 MB: fan-out is network and CPU bound, as in chat. 25 s, as chat: no
 * caller waits, but a batch that takes longer is stuck, and a retry from the
 * failed record (the stream holds it) does better than waiting.
 */
export const fanoutFunction = {
  name: 'fanout',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: "Parley: Delivers other regions' messages from this region's stream",
  memoryMB: 512,
  timeoutSeconds: 25,
  environment: loggingEnvironment('fanout'),
} satisfies RealtimeFunctionProps;

export const fanout = defineRealtimeFunction(fanoutFunction);
