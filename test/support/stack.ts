import { inject } from 'vitest';
import { startStack, type LocalStack, type StackOptions } from '../../local/stack';

/** A stack on the run's shared DynamoDB Local and cognito-local, with tables of its own. */
export function testStack(opts: StackOptions = {}): Promise<LocalStack> {
  return startStack({ dynamoEndpoint: inject('dynamoEndpoint'), cognito: inject('cognito'), ...opts });
}
