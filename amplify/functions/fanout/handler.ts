import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';

/** Placeholder until the stream fan-out lands (issue 10): accepts every record. */
export const handler = async (_event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => ({ batchItemFailures: [] });
