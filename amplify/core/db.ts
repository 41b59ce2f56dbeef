import { BatchGetCommand, BatchWriteCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

type Item = Record<string, unknown>;
type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

/** How a batch is retried: `attempts` sends in all, waiting baseMs, 2x, 4x... (at most maxMs) before each retry. */
export interface BatchRetry {
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Injected by tests, so backoff costs no wall-clock time. */
  pause?: (ms: number) => Promise<void>;
}

/** Unprocessed items mean throttling: back off, as the SDK does for its own retries, and give up well inside a Lambda's timeout. */
export const BATCH_RETRY: BatchRetry = { attempts: 8, baseMs: 25, maxMs: 800 };

/**
 * DynamoDB still handed part of a batch back after every retry. Thrown, never
 * swallowed: a caller that went on would act on rows it never read or wrote.
 */
export class BatchIncomplete extends Error {
  constructor(
    readonly operation: 'BatchGetItem' | 'BatchWriteItem',
    readonly table: string,
    /** Keys or write requests still unprocessed. */
    readonly remaining: number,
    readonly attempts: number,
  ) {
    super(`${operation} on ${table}: ${remaining} item(s) still unprocessed after ${attempts} attempts`);
    this.name = 'BatchIncomplete';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The one retry loop for every batch call: sends `request`, then whatever
 * `send` says came back unprocessed, with backoff, until none is left or the
 * attempts run out (BatchIncomplete).
 */
export async function untilProcessed<T>(
  operation: BatchIncomplete['operation'],
  table: string,
  request: T[],
  send: (request: T[]) => Promise<T[]>,
  retry: BatchRetry = BATCH_RETRY,
): Promise<void> {
  const pause = retry.pause ?? sleep;
  for (let attempt = 0; request.length > 0; attempt++) {
    if (attempt >= retry.attempts) throw new BatchIncomplete(operation, table, request.length, attempt);
    if (attempt > 0) await pause(Math.min(retry.maxMs, retry.baseMs * 2 ** (attempt - 1)));
    request = await send(request);
  }
}

/** BatchGet in pages of 100 (DynamoDB's cap), retrying the keys handed back unprocessed. */
export async function batchGetAll(db: DynamoDBDocumentClient, table: string, keys: Item[], retry?: BatchRetry): Promise<Item[]> {
  const out: Item[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    await untilProcessed('BatchGetItem', table, keys.slice(i, i + 100), async (Keys) => {
      const res = await db.send(new BatchGetCommand({ RequestItems: { [table]: { Keys } } }));
      out.push(...(res.Responses?.[table] ?? []));
      return res.UnprocessedKeys?.[table]?.Keys ?? [];
    }, retry);
  }
  return out;
}

/** BatchWrite in pages of 25 (DynamoDB's cap), `concurrency` pages at a time, retrying the requests handed back unprocessed. */
export async function batchWriteAll(
  db: DynamoDBDocumentClient,
  table: string,
  requests: WriteRequest[],
  opts: { concurrency?: number; retry?: BatchRetry } = {},
): Promise<void> {
  const pages: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += 25) pages.push(requests.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < pages.length) {
      const page = pages[next++] ?? [];
      await untilProcessed('BatchWriteItem', table, page, async (request) => {
        const res = await db.send(new BatchWriteCommand({ RequestItems: { [table]: request } }));
        return (res.UnprocessedItems?.[table] ?? []) as WriteRequest[];
      }, opts.retry);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 1, pages.length)) }, worker));
}

/** Deletes every key, through batchWriteAll. */
export function batchDeleteAll(db: DynamoDBDocumentClient, table: string, keys: Item[], retry?: BatchRetry): Promise<void> {
  return batchWriteAll(db, table, keys.map((Key) => ({ DeleteRequest: { Key } })), { retry });
}

/**
 * Follows LastEvaluatedKey until done, `max` items, or `enough` says so after
 * a page; Query only, never Scan.
 */
export async function queryAll(
  db: DynamoDBDocumentClient,
  input: QueryCommandInput,
  max = Infinity,
  enough?: (page: Item[]) => boolean,
): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const res = await db.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    const page = res.Items ?? [];
    items.push(...page);
    start = res.LastEvaluatedKey;
    if (enough?.(page)) break;
  } while (start && items.length < max);
  return items;
}
