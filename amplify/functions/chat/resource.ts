import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction, type RealtimeFunctionProps } from '../../realtime/function';
import { loggingEnvironment } from '../log-env';

/**
 * Every custom route (sendmessage, joinroom, ...) and $default.
 * 512 MB: the hot path; message fan-out posts to every connection in a room,
 * which is network and CPU bound, and Lambda CPU scales with memory.
 * 25 s: below API Gateway's 29 s integration timeout; running longer than the
 * caller can wait would only burn money.
 */
export const chatFunction = {
  name: 'chat',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: 'Parley: Handles chat actions and the $default route',
  memoryMB: 512,
  timeoutSeconds: 25,
  environment: loggingEnvironment('chat'),
} satisfies RealtimeFunctionProps;

export const chat = defineRealtimeFunction(chatFunction);
