/**
 * The one batch-retry policy (amplify/core/db.ts): what DynamoDB hands back
 * unprocessed is sent again with backoff, and what is still unprocessed after
 * the last attempt is thrown as BatchIncomplete, never dropped.
 */
import { describe, expect, it } from 'vitest';
import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchDeleteAll, batchGetAll, batchWriteAll, BatchIncomplete, type BatchRetry } from '../amplify/core/db';

type Item = Record<string, unknown>;

/** A client whose every send is answered by `answer`; records the commands and the backoff asked for. */
function scripted(answer: (input: Record<string, unknown>, call: number) => Record<string, unknown>) {
  const inputs: Record<string, unknown>[] = [];
  const waits: number[] = [];
  const db = {
    send: (command: BatchGetCommand | BatchWriteCommand) => {
      const input = command.input as Record<string, unknown>;
      inputs.push(input);
      return Promise.resolve(answer(input, inputs.length - 1));
    },
  } as unknown as DynamoDBDocumentClient;
  const retry: BatchRetry = { attempts: 4, baseMs: 10, maxMs: 25, pause: (ms) => Promise.resolve(void waits.push(ms)) };
  return { db, inputs, waits, retry };
}

const keysOf = (n: number): Item[] => Array.from({ length: n }, (_, i) => ({ pk: `k${i}` }));
const requested = (input: Record<string, unknown>) => (input.RequestItems as Record<string, unknown[] | { Keys: unknown[] }>).t;

describe('batch retries', () => {
  it('sends back what came back unprocessed, with backoff, until all is done', async () => {
    const { db, inputs, waits, retry } = scripted((input, call) => {
      const request = requested(input) as unknown[];
      // The first two sends each leave the last item unprocessed.
      return call < 2 ? { UnprocessedItems: { t: request.slice(-1) } } : {};
    });
    await batchDeleteAll(db, 't', keysOf(3), retry);
    expect(inputs.map((i) => (requested(i) as unknown[]).length)).toEqual([3, 1, 1]);
    expect(waits).toEqual([10, 20]);
  });

  it('throws BatchIncomplete, with what is left, once the attempts run out', async () => {
    const { db, inputs, waits, retry } = scripted((input) => ({ UnprocessedItems: { t: requested(input) } }));
    const failure = batchWriteAll(db, 't', keysOf(2).map((Item) => ({ PutRequest: { Item } })), { retry });
    await expect(failure).rejects.toBeInstanceOf(BatchIncomplete);
    await expect(failure).rejects.toMatchObject({ operation: 'BatchWriteItem', table: 't', remaining: 2, attempts: 4 });
    expect(inputs).toHaveLength(4);
    // Doubling from baseMs, capped at maxMs.
    expect(waits).toEqual([10, 20, 25]);
  });

  it('reads in pages of 100 and keeps what each retry returns', async () => {
    const { db, inputs, retry } = scripted((input) => {
      const keys = (requested(input) as { Keys: Item[] }).Keys;
      // Half of each request is answered, the rest handed back.
      const half = Math.ceil(keys.length / 2);
      return { Responses: { t: keys.slice(0, half) }, ...(keys.length > half ? { UnprocessedKeys: { t: { Keys: keys.slice(half) } } } : {}) };
    });
    const items = await batchGetAll(db, 't', keysOf(150), { ...retry, attempts: 10 });
    expect(items.map((i) => i.pk).sort()).toEqual(keysOf(150).map((k) => k.pk).sort());
    expect(Math.max(...inputs.map((i) => (requested(i) as { Keys: Item[] }).Keys.length))).toBe(100);
  });

  it('gives up on a read that never completes instead of answering with part of it', async () => {
    const { db, retry } = scripted((input) => ({ UnprocessedKeys: { t: requested(input) } }));
    await expect(batchGetAll(db, 't', keysOf(1), retry)).rejects.toMatchObject({ name: 'BatchIncomplete', operation: 'BatchGetItem', remaining: 1 });
  });
});
