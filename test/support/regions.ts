import { inject } from 'vitest';
import { assertWithinGrants } from '../../local/iam';
import { startRegions, type LocalRegions, type RegionsOptions } from '../../local/regions';

export type Regions = LocalRegions;

/**
 * Two regions on the run's shared DynamoDB Local (each with its own tables)
 * and its cognito-local, whose users table is the primary's replica.
 */
export function twoRegions(opts: RegionsOptions = {}): Promise<Regions> {
  const dynamo = inject('dynamoEndpoint');
  return startRegions({ dynamoEndpoints: [dynamo, dynamo], cognito: inject('cognito'), ...opts });
}

/** Stops every region, then fails if any handler in any region made an AWS call its role lacks. */
export async function closeRegions(regions: Regions | undefined): Promise<void> {
  if (!regions) return;
  const calls = await regions.calls();
  await regions.close();
  assertWithinGrants(calls);
}
