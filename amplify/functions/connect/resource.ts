import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction } from '../../realtime/function';

/**
 * $connect: records the connection and the user-name registry entry.
 * 256 MB / 10 s: a few single-item writes; API Gateway waits for this before
 * the socket opens, so it must be quick, not big.
 */
export const connect = defineRealtimeFunction({
  name: 'connect',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: 'Parley: Records a new WebSocket connection',
  memoryMB: 256,
  timeoutSeconds: 10,
});
