import { fileURLToPath } from 'node:url';
import { defineRealtimeFunction } from '../../realtime/function';

/**
 * Cognito Pre sign-up trigger: claims the chat name, once, in the users table.
 * In the auth stack (resourceGroup 'auth') beside the pool and the table, so
 * the pool's reference to it and its reference to the table form no cycle.
 * 128 MB / 5 s: one conditional write, and Cognito waits at most 5 s for a trigger.
 */
export const preSignUp = defineRealtimeFunction({
  name: 'preSignUp',
  entry: fileURLToPath(new URL('./handler.ts', import.meta.url)),
  description: 'Parley: Claims the chat name at sign-up',
  memoryMB: 128,
  timeoutSeconds: 5,
  resourceGroup: 'auth',
});
