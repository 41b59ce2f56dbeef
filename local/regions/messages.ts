/**
 * What a region process (region.ts) and its parent (index.ts) say to each
 * other. Apart from region.ts, which runs a region when imported.
 */
import type { RegionRoute } from '../../amplify/core/config';
import type { LocalCognito } from '../cognito';
import type { RecordedCall } from '../iam';

/** Marks a line a region writes about a failure: shown even when its log is off. */
export const REGION_ERROR = 'error: ';

/** What the parent tells a region process (env PARLEY_LOCAL_REGION, JSON). */
export interface RegionProcessConfig {
  region: string;
  primary: string;
  dynamoEndpoint: string;
  cognito: Omit<LocalCognito, 'stop'>;
  tables: { connections: string; chat: string; users: string };
  chatStreamArn: string;
  gatewayPort: number;
  lambdaPort: number;
  homeFunction: string;
  /** Every other region's home function and its Lambda endpoint. */
  others: Record<string, RegionRoute>;
  pollMs: number;
  /** Where this region's event source mapping stopped last time, by shard. */
  checkpoint: Record<string, string>;
  log: boolean;
}

/** Messages between the parent and a region process. */
export type ToRegion = { type: 'calls' };
export type FromRegion =
  | { type: 'ready'; websocketUrl: string; managementEndpoint: string }
  | { type: 'failed'; error: string }
  | { type: 'checkpoint'; shardId: string; sequenceNumber: string }
  | { type: 'calls'; calls: RecordedCall[] };

