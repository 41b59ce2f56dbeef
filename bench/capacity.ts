/**
 * Counts what DynamoDB reports for every call a client makes: a middleware
 * asks for ReturnConsumedCapacity TOTAL on each request and records the
 * capacity, the items each read touched and the call's round trip. DynamoDB
 * Local computes ConsumedCapacity with DynamoDB's rules (4 KB read units,
 * halved for eventually consistent reads), so the units are DynamoDB's own.
 */
import { performance } from 'node:perf_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand', 'TransactGetItemsCommand']);

export interface Call {
  command: string;
  read: boolean;
  /** Items the call read: ScannedCount for Query and Scan, items returned for the others. */
  itemsRead: number;
  /** Items returned to the caller (after any FilterExpression). */
  itemsReturned: number;
  capacityUnits: number;
  /** Round trip as the caller saw it, marshalling included. */
  ms: number;
  /** The error's name when the call failed (a failed condition is still billed). */
  error?: string;
}

interface Capacity {
  CapacityUnits?: number;
}
interface Output {
  ConsumedCapacity?: Capacity | Capacity[];
  ScannedCount?: number;
  Count?: number;
  Item?: unknown;
  Responses?: unknown[] | Record<string, unknown[]>;
}

function itemsOf(command: string, out: Output): { read: number; returned: number } {
  if (command === 'QueryCommand' || command === 'ScanCommand') return { read: out.ScannedCount ?? 0, returned: out.Count ?? 0 };
  if (command === 'GetItemCommand') return { read: out.Item ? 1 : 0, returned: out.Item ? 1 : 0 };
  const responses = out.Responses;
  const n = Array.isArray(responses) ? responses.length : Object.values(responses ?? {}).reduce((s, r) => s + r.length, 0);
  return READS.has(command) ? { read: n, returned: n } : { read: 0, returned: 0 };
}

export class CapacityMeter {
  private calls: Call[] = [];

  attach(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
        const command = context.commandName ?? 'unknown';
        const t0 = performance.now();
        let result: Awaited<ReturnType<typeof next>>;
        try {
          result = await next(args);
        } catch (err) {
          const name = err instanceof Error ? err.name : 'Error';
          this.calls.push({ command, read: READS.has(command), itemsRead: 0, itemsReturned: 0, capacityUnits: 0, ms: performance.now() - t0, error: name });
          throw err;
        }
        const ms = performance.now() - t0;
        const out = result.output as Output;
        const capacities = [out.ConsumedCapacity ?? []].flat();
        const items = itemsOf(command, out);
        this.calls.push({
          command,
          read: READS.has(command),
          itemsRead: items.read,
          itemsReturned: items.returned,
          capacityUnits: capacities.reduce((s, c) => s + (c.CapacityUnits ?? 0), 0),
          ms,
        });
        return result;
      },
      { step: 'initialize', name: 'benchConsumedCapacity' },
    );
  }

  /** The calls recorded since the last take. */
  take(): Call[] {
    const out = this.calls;
    this.calls = [];
    return out;
  }
}
