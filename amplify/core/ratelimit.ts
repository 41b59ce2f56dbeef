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

const DEFAULT_LIMIT: RateLimit = { perSecond: LIMITS.ratePerSecond, burst: LIMITS.rateBurst };

/**
 * The same GCRA kept in this container's memory, over the frames this
 * container passed on. It refuses only a connection that has gone over the
 * limit here alone, so a flood is turned away without a write, while the
 * shared limit in the table still decides everything this lets through.
 */
export class LocalAdmission {
  private readonly tat = new Map<string, number>();
  private readonly reported = new Map<string, number>();
  constructor(
    private readonly maxEntries = 10_000,
    /** While a connection floods, tell it at most this often; answering every frame would cost more than the flood. */
    private readonly reportEveryMs = 100,
  ) {}

  /** True when a refusal should be answered with an error frame, false to drop the frame quietly. */
  shouldReport(connectionId: string, now: number): boolean {
    const last = this.reported.get(connectionId);
    if (last !== undefined && now - last < this.reportEveryMs) return false;
    this.reported.delete(connectionId);
    this.reported.set(connectionId, now);
    if (this.reported.size > this.maxEntries) this.reported.delete(this.reported.keys().next().value as string);
    return true;
  }

  /** Milliseconds to wait, or 0 if this container has no objection. */
  check(connectionId: string, now: number, limit: RateLimit = DEFAULT_LIMIT): number {
    const interval = 1000 / limit.perSecond;
    const tolerance = (limit.burst - 1) * interval;
    const tat = this.tat.get(connectionId) ?? now;
    if (tat - now > tolerance) return Math.ceil(tat - tolerance - now);
    this.tat.delete(connectionId);
    this.tat.set(connectionId, Math.max(tat, now) + interval);
    // Maps iterate in insertion order, so the first key is the least recently admitted.
    if (this.tat.size > this.maxEntries) this.tat.delete(this.tat.keys().next().value as string);
    return 0;
  }
}

export type Admission = { ok: true; connection: Connection } | { ok: false; retryAfterMs: number } | { ok: false; missing: true };

/**
 * GCRA (a token bucket kept as one timestamp, `tat`) on the connection row.
 * Both branches are single conditional writes, so concurrent invocations for
 * one connection never lose an update and need no read first; the winning
 * write returns the whole row, which saves the caller a GetItem.
 */
export async function admit(deps: ChatDeps, connectionId: string, limit: RateLimit = DEFAULT_LIMIT): Promise<Admission> {
  const now = deps.now();
  const wait = deps.admission?.check(connectionId, now, limit) ?? 0;
  if (wait > 0) return { ok: false, retryAfterMs: wait };
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
  throw new ProtocolError('rate_limited', `Slow down: at most ${(limit ?? DEFAULT_LIMIT).perSecond} actions a second`, {
    retryAfterMs: result.retryAfterMs,
  });
}
