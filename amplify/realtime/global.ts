/**
 * Makes a TableV2 (created with `dynamoStream: GLOBAL_STREAM`) a global
 * table: a replica in every region given, by CloudFormation override. TableV2.addReplica
 * cannot be used: Amplify's stacks have no fixed region, and CDK refuses
 * replicas there (ReplicaTablesNotSupportedInRegionAgnosticStack).
 */
import { Lazy, Stack } from 'aws-cdk-lib';
import { type CfnGlobalTable, StreamViewType, type TableV2 } from 'aws-cdk-lib/aws-dynamodb';

/** What a global table's replication needs, and what the fanout function reads (NewImage). */
export const GLOBAL_STREAM = StreamViewType.NEW_AND_OLD_IMAGES;

/**
 * `regions` with the stack's own region first. One region or none: the
 * replica stays on the stack's region, so a single-region backend deploys
 * to any region.
 */
export function makeGlobal(table: TableV2, regions: readonly string[]): void {
  if (!table.tableStreamArn) throw new Error(`${table.node.path}: a global table needs dynamoStream: GLOBAL_STREAM`);
  if (regions.length < 2) return;
  const cfn = table.node.defaultChild as CfnGlobalTable;
  const stack = Stack.of(table);
  // Every replica as TableV2 renders its own (PITR, deletion protection,
  // GSIs, tags), so the settings stay one definition. renderProperties is how
  // every L1 turns its props into CloudFormation (protected, so reached by
  // cast); the override itself is not part of what it renders.
  const l1 = cfn as unknown as { renderProperties(p: Record<string, unknown>): Record<string, unknown>; cfnProperties: Record<string, unknown> };
  cfn.addPropertyOverride(
    'Replicas',
    Lazy.any({
      produce: () => {
        const rendered = stack.resolve(l1.renderProperties(stack.resolve(l1.cfnProperties) as Record<string, unknown>).Replicas) as Record<string, unknown>[] | undefined;
        const own = rendered?.[0];
        if (!own || rendered.length !== 1 || !('Region' in own)) {
          throw new Error(`${table.node.path}: expected one rendered replica, found ${JSON.stringify(rendered)}`);
        }
        return regions.map((region) => ({ ...own, Region: region }));
      },
    }),
  );
}
