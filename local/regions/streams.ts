/**
 * Reading a DynamoDB Local table's stream the way AWS's consumers do (global
 * table replication, Lambda's event source mapping): every shard in order,
 * children after their parent, polled with GetRecords.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DescribeTableCommand, UpdateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { LOCAL_CREDENTIALS } from '../dynamodb';

export type { StreamRecord };
export type Image = Record<string, AttributeValue>;

/** Turns a table's stream on (NEW_AND_OLD_IMAGES, as global tables need) unless it is on; returns its ARN. */
export async function enableStream(ddb: DynamoDBClient, table: string): Promise<string> {
  const described = await ddb.send(new DescribeTableCommand({ TableName: table }));
  if (described.Table?.StreamSpecification?.StreamEnabled && described.Table.LatestStreamArn) return described.Table.LatestStreamArn;
  const updated = await ddb.send(
    new UpdateTableCommand({ TableName: table, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }),
  );
  const arn = updated.TableDescription?.LatestStreamArn;
  if (!arn) throw new Error(`DynamoDB Local gave ${table} no stream`);
  return arn;
}

export function streamsClient(endpoint: string): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient({ endpoint, region: 'local', credentials: LOCAL_CREDENTIALS });
}

export interface StreamReaderOptions {
  client: DynamoDBStreamsClient;
  streamArn: string;
  /** Where shards known at start begin: LATEST (only what is written from now on) or TRIM_HORIZON. */
  from: 'LATEST' | 'TRIM_HORIZON';
  /** Resume after these sequence numbers, by shard (a consumer's checkpoint). */
  after?: Record<string, string>;
  /** How long to wait after a poll that found nothing. */
  idleMs: number;
  /** Called with each shard's records in order; the next poll of that shard waits for it. */
  onRecords(records: StreamRecord[], shardId: string): Promise<void>;
  onError?(err: unknown): void;
}

export interface StreamReader {
  /** Resolves after a full pass over every shard that began after this call found no new records. */
  caughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Polls until stopped. One pass reads every open shard once; new shards
 * (DynamoDB rolls them) start at their beginning once their parent is done,
 * so per-key order holds across a roll.
 */
export function readStream(opts: StreamReaderOptions): StreamReader {
  const iterators = new Map<string, string | null>();
  const done = new Set<string>();
  let stopped = false;
  let first = true;
  let waiters: { started: boolean; resolve: () => void }[] = [];

  // Per shard, the last record handled: where a new iterator resumes (a checkpoint to begin with).
  const lastSeen = new Map<string, string>(Object.entries(opts.after ?? {}));

  /** An iterator after the last record seen, else of `type` (TRIM_HORIZON once past the first discovery). */
  async function iteratorFor(shardId: string, type: 'LATEST' | 'TRIM_HORIZON'): Promise<string | null> {
    const after = lastSeen.get(shardId);
    const it = await opts.client.send(
      new GetShardIteratorCommand({
        StreamArn: opts.streamArn,
        ShardId: shardId,
        ShardIteratorType: after ? 'AFTER_SEQUENCE_NUMBER' : type,
        ...(after ? { SequenceNumber: after } : {}),
      }),
    );
    return it.ShardIterator ?? null;
  }

  async function discover(): Promise<void> {
    const shards = (await opts.client.send(new DescribeStreamCommand({ StreamArn: opts.streamArn }))).StreamDescription?.Shards ?? [];
    // Parents begin before their children, so this order visits a parent first.
    const start = (s: (typeof shards)[number]) => BigInt(s.SequenceNumberRange?.StartingSequenceNumber ?? '0');
    shards.sort((a, b) => (start(a) < start(b) ? -1 : start(a) > start(b) ? 1 : 0));
    for (const shard of shards) {
      const id = shard.ShardId;
      if (!id || iterators.has(id) || done.has(id)) continue;
      // From LATEST, a shard already closed holds nothing new.
      if (first && opts.from === 'LATEST' && !lastSeen.has(id) && shard.SequenceNumberRange?.EndingSequenceNumber) {
        done.add(id);
        continue;
      }
      if (shard.ParentShardId && iterators.has(shard.ParentShardId)) continue;
      iterators.set(id, await iteratorFor(id, first ? opts.from : 'TRIM_HORIZON'));
    }
    first = false;
  }

  async function pass(): Promise<number> {
    await discover();
    let count = 0;
    for (const [id, iterator] of [...iterators]) {
      if (!iterator) {
        iterators.delete(id);
        done.add(id);
        continue;
      }
      let got;
      try {
        got = await opts.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      } catch (err) {
        // DynamoDB Local answers a fresh shard's LATEST iterator so until its first record; iterators also expire.
        const name = err instanceof Error ? err.name : '';
        if (name !== 'TrimmedDataAccessException' && name !== 'ExpiredIteratorException') throw err;
        iterators.set(id, await iteratorFor(id, 'TRIM_HORIZON'));
        continue;
      }
      const records = got.Records ?? [];
      if (records.length > 0) {
        count += records.length;
        await opts.onRecords(records, id);
        const last = records.at(-1)?.dynamodb?.SequenceNumber;
        if (last) lastSeen.set(id, last);
      }
      iterators.set(id, got.NextShardIterator ?? null);
    }
    return count;
  }

  const loop = (async () => {
    while (!stopped) {
      for (const w of waiters) w.started = true;
      let count = 0;
      try {
        count = await pass();
      } catch (err) {
        if (stopped) break;
        opts.onError?.(err);
      }
      if (count === 0) {
        const ready = waiters.filter((w) => w.started);
        waiters = waiters.filter((w) => !w.started);
        for (const w of ready) w.resolve();
        if (!stopped) await new Promise((r) => setTimeout(r, opts.idleMs));
      }
    }
    for (const w of waiters) w.resolve();
  })();

  return {
    caughtUp: () => new Promise<void>((resolve) => waiters.push({ started: false, resolve })),
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** A record's item key as a stable string (pk and sk, or whatever the table's keys are). */
export function keyOf(record: StreamRecord): string {
  const keys = record.dynamodb?.Keys ?? {};
  return JSON.stringify(Object.keys(keys).sort().map((k) => [k, keys[k]]));
}

// ------------------------------------------------------------------ Lambda event filtering

type Pattern = { readonly [key: string]: Pattern } | readonly Leaf[];
type Leaf = string | number | boolean | null | { readonly prefix: string } | { readonly 'anything-but': readonly unknown[] } | { readonly exists: boolean };

/**
 * Whether a record matches a Lambda event filter pattern (the subset Parley
 * uses: exact values, prefix, anything-but, exists), as the event source
 * mapping evaluates it: keys are ANDed, values in a list are ORed, and a
 * missing field matches only `exists: false`.
 */
export function matchesFilter(pattern: Pattern, value: unknown): boolean {
  if (Array.isArray(pattern)) return (pattern as readonly Leaf[]).some((leaf) => leafMatches(leaf, value));
  if (typeof value !== 'object' || value === null) {
    return Object.values(pattern).every((sub) => Array.isArray(sub) && (sub as readonly Leaf[]).some((l) => isExistsFalse(l)));
  }
  const obj = value as Record<string, unknown>;
  return Object.entries(pattern as Record<string, Pattern>).every(([key, sub]) => matchesFilter(sub, obj[key]));
}

const isExistsFalse = (leaf: Leaf): boolean => typeof leaf === 'object' && leaf !== null && 'exists' in leaf && leaf.exists === false;

function leafMatches(leaf: Leaf, value: unknown): boolean {
  if (typeof leaf === 'object' && leaf !== null) {
    if ('exists' in leaf) return leaf.exists === (value !== undefined);
    if (value === undefined) return false;
    if ('prefix' in leaf) return typeof value === 'string' && value.startsWith(leaf.prefix);
    return !leaf['anything-but'].includes(value);
  }
  return value === leaf;
}
