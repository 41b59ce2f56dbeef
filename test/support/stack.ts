import { inject } from 'vitest';
import { startStack, type LocalStack, type StackOptions } from '../../local/stack';

/** A stack on the run's shared DynamoDB Local and cognito-local, with tables of its own. */
export function testStack(opts: StackOptions = {}): Promise<LocalStack> {
  return startStack({ dynamoEndpoint: inject('dynamoEndpoint'), cognito: inject('cognito'), ...opts });
}

/**
 * Closes the stack, so every $disconnect and every late fan-out has run, then
 * fails if any handler made an AWS call its role lacks (amplify/realtime/permissions.ts).
 * Use it as the suite's afterAll: `afterAll(() => closeStack(stack))`.
 */
export async function closeStack(stack: LocalStack | undefined): Promise<void> {
  if (!stack) return;
  await stack.close();
  stack.iam.assertWithinGrants();
}
