import { BatchGetCommand, BatchWriteCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

type Item = Record<string, unknown>;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** BatchGet in pages of 100, retrying the keys DynamoDB hands back unprocessed. */
export async function batchGetAll(db: DynamoDBDocumentClient, table: string, keys: Item[]): Promise<Item[]> {
  const out: Item[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let request = keys.slice(i, i + 100);
    for (let attempt = 0; request.length > 0; attempt++) {
      if (attempt > 0) await pause(20 * 2 ** Math.min(attempt, 5));
      if (attempt > 8) throw new Error('BatchGet kept returning unprocessed keys');
      const res = await db.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: request } } }));
      out.push(...(res.Responses?.[table] ?? []));
      request = res.UnprocessedKeys?.[table]?.Keys ?? [];
    }
  }
  return out;
}

/** BatchWrite deletes in pages of 25, retrying the items DynamoDB hands back unprocessed. */
export async function batchDeleteAll(db: DynamoDBDocumentClient, table: string, keys: Item[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 25) {
    let request = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 0; request.length > 0; attempt++) {
      if (attempt > 0) await pause(20 * 2 ** Math.min(attempt, 5));
      if (attempt > 8) throw new Error('BatchWrite kept returning unprocessed items');
      const res = await db.send(new BatchWriteCommand({ RequestItems: { [table]: request } }));
      request = (res.UnprocessedItems?.[table] ?? []) as typeof request;
    }
  }
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
