import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { toConnection, type Connection } from './connections';
import type { ChatDeps } from './deps';
import { keys } from './keys';
import { LIMITS, ProtocolError } from './protocol';

export interface RateLimit {
  perSecond: number;
  burst: number;
}

export type Admission = { ok: true; connection: Connection } | { ok: false; retryAfterMs: number } | { ok: false; missing: true };

/**
 * GCRA (a token bucket kept as one timestamp, `tat`) on the connection row.
 * Both branches are single conditional writes, so concurrent invocations for
 * one connection never lose an update and need no read first; the winning
 * write returns the whole row, which saves the caller a GetItem.
 */
export async function admit(deps: ChatDeps, connectionId: string, limit: RateLimit = { perSecond: LIMITS.ratePerSecond, burst: LIMITS.rateBurst }): Promise<Admission> {
  const now = deps.now();
  const interval = 1000 / limit.perSecond;
  const tolerance = (limit.burst - 1) * interval;
  const key = keys.connection(connectionId);
  const attempt = async (update: string, condition: string, values: Record<string, number>) => {
    try {
      const res = await deps.db.send(
        new UpdateCommand({
          TableName: deps.tables.connections,
          Key: key,
          UpdateExpression: update,
          ConditionExpression: `attribute_exists(pk) AND (${condition})`,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { item: res.Attributes };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return { failed: err.Item };
      throw err;
    }
  };

  // Idle: the bucket is full, start a fresh schedule from now.
  const fresh = await attempt('SET tat = :next', 'attribute_not_exists(tat) OR tat <= :now', { ':next': now + interval, ':now': now });
  if ('item' in fresh) return admitted(deps, fresh.item);
  // Busy but within the burst: push the schedule back by one interval.
  const busy = await attempt('SET tat = tat + :i', 'tat > :now AND tat <= :limit', { ':i': interval, ':now': now, ':limit': now + tolerance });
  if ('item' in busy) return admitted(deps, busy.item);
  if (!busy.failed) return { ok: false, missing: true };
  const tat = Number(busy.failed.tat?.N ?? now + tolerance + interval);
  return { ok: false, retryAfterMs: Math.max(1, Math.ceil(tat - tolerance - now)) };
}

function admitted(deps: ChatDeps, item: Record<string, unknown> | undefined): Admission {
  const connection = toConnection(item, deps.now());
  return connection ? { ok: true, connection } : { ok: false, missing: true };
}

/** Admission as the handler wants it: a connection, or a typed error. */
export async function admitOrThrow(deps: ChatDeps, connectionId: string, limit?: RateLimit): Promise<Connection | undefined> {
  const result = await admit(deps, connectionId, limit);
  if (result.ok) return result.connection;
  if ('missing' in result) return undefined;
  throw new ProtocolError('rate_limited', `Slow down: at most ${LIMITS.ratePerSecond} actions a second`, { retryAfterMs: result.retryAfterMs });
}
