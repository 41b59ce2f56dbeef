import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { deliverReplicated } from '../../core/replica';
import { functionLog } from '../log';
import { regionalDeps } from '../runtime';

const logs = functionLog('fanout');

/**
 * The chat table's stream in this region, filtered (realtime/defaults.ts) to
 * messages and changes another region wrote: each goes to this region's
 * sockets in its room. A record that could not be delivered is reported, so
 * Lambda retries from it; clients drop what they already hold by seq.
 */
export const handler = async (event: DynamoDBStreamEvent, context?: Context): Promise<DynamoDBBatchResponse> => {
  const log = logs.invocation(undefined, context);
  const records = event.Records.flatMap((r) =>
    r.dynamodb?.NewImage && r.dynamodb.SequenceNumber
      ? [{ id: r.dynamodb.SequenceNumber, item: unmarshall(r.dynamodb.NewImage as Record<string, AttributeValue>) }]
      : [],
  );
  const failed = await deliverReplicated(regionalDeps(log), records);
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
};
