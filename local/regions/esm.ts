/**
 * Lambda's event source mapping for a DynamoDB stream, played locally: the
 * region's chat-table stream, filtered with the same pattern the CDK
 * deploys, in batches, in order per shard, with ReportBatchItemFailures
 * (retry from the first failed record, bounded) and a checkpoint that
 * outlives the function (a region's process restarts where it stopped).
 */
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { matchesFilter, readStream, streamsClient, type StreamReader, type StreamRecord } from './streams';

export interface EventSourceMappingOptions {
  endpoint: string;
  streamArn: string;
  region: string;
  /** A Lambda filter pattern (realtime/defaults.ts fanoutStreamFilter). */
  filter: Parameters<typeof matchesFilter>[0];
  handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;
  batchSize: number;
  /** Retries of a failing batch before its records are dropped, as the mapping's retryAttempts. */
  retryAttempts: number;
  pollMs: number;
  /** Shard -> last sequence number handled, to resume after. */
  checkpoint?: Record<string, string>;
  onCheckpoint?(shardId: string, sequenceNumber: string): void;
  log?: (line: string) => void;
}

function toLambdaRecord(r: StreamRecord, region: string, streamArn: string): DynamoDBRecord {
  const d = r.dynamodb ?? {};
  return {
    eventID: r.eventID,
    eventName: r.eventName as DynamoDBRecord['eventName'],
    eventVersion: r.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ApproximateCreationDateTime: d.ApproximateCreationDateTime ? Math.floor(d.ApproximateCreationDateTime.getTime() / 1000) : undefined,
      Keys: d.Keys as Record<string, AttributeValue> | undefined,
      NewImage: d.NewImage as Record<string, AttributeValue> | undefined,
      OldImage: d.OldImage as Record<string, AttributeValue> | undefined,
      SequenceNumber: d.SequenceNumber,
      SizeBytes: d.SizeBytes,
      StreamViewType: d.StreamViewType,
    },
  };
}

export function startEventSourceMapping(opts: EventSourceMappingOptions): StreamReader {
  const log = opts.log ?? (() => undefined);
  const deliver = async (batch: DynamoDBRecord[], shardId: string): Promise<void> => {
    let rest = batch;
    for (let attempt = 0; rest.length > 0; attempt++) {
      let failedAt: number;
      try {
        const res = await opts.handler({ Records: rest });
        const ids = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        failedAt = ids.size ? rest.findIndex((r) => ids.has(r.dynamodb?.SequenceNumber ?? '')) : -1;
        // An identifier the batch does not hold fails the whole batch, as Lambda treats it.
        if (ids.size && failedAt < 0) failedAt = 0;
      } catch (err) {
        log(`fanout failed: ${String(err)}`);
        failedAt = 0;
      }
      const handled = failedAt < 0 ? rest : rest.slice(0, failedAt);
      const last = handled.at(-1)?.dynamodb?.SequenceNumber;
      if (last) opts.onCheckpoint?.(shardId, last);
      if (failedAt < 0) return;
      rest = rest.slice(failedAt);
      if (attempt >= opts.retryAttempts) {
        log(`fanout: dropping ${rest.length} record(s) after ${attempt + 1} attempts`);
        const dropped = rest.at(-1)?.dynamodb?.SequenceNumber;
        if (dropped) opts.onCheckpoint?.(shardId, dropped);
        return;
      }
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  };

  return readStream({
    client: streamsClient(opts.endpoint),
    streamArn: opts.streamArn,
    from: 'LATEST',
    after: opts.checkpoint,
    idleMs: opts.pollMs,
    async onRecords(records, shardId) {
      const matching = records.map((r) => toLambdaRecord(r, opts.region, opts.streamArn)).filter((r) => matchesFilter(opts.filter, r));
      for (let i = 0; i < matching.length; i += opts.batchSize) await deliver(matching.slice(i, i + opts.batchSize), shardId);
      // Filtered-out records are consumed too: the checkpoint moves past them.
      const last = records.at(-1)?.dynamodb?.SequenceNumber;
      if (last) opts.onCheckpoint?.(shardId, last);
    },
    onError: (err) => log(`fanout stream: ${String(err)}`),
  });
}
