import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { expiresAtFrom, getConnection, type ConnectionRow } from './connections';
import type { ChatDeps } from './deps';
import { remember } from './cache';
import { keys } from './keys';
import { LIMITS, ProtocolError } from './protocol';

export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** Every limit is per user, across all of that user's sockets; each bucket is one attribute of the user row. */
export const BUCKETS = {
  actions: { attribute: 'tat', perSecond: LIMITS.ratePerSecond, burst: LIMITS.rateBurst, what: 'actions' },
  rooms: { attribute: 'tatRooms', perSecond: 1 / LIMITS.roomCreateEverySeconds, burst: LIMITS.roomCreateBurst, what: 'new rooms' },
  invites: { attribute: 'tatInvites', perSecond: 1 / LIMITS.inviteEverySeconds, burst: LIMITS.inviteBurst, what: 'invitations' },
} as const;
export type Bucket = (typeof BUCKETS)[keyof typeof BUCKETS];

/**
 * A `rate_limited` refusal. Only the action budget's are `coalescible`: a
 * flood of frames is answered at most every so often. Refusals of rooms and
 * invitations are rare and always answered.
 */
export class Refused extends ProtocolError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    readonly coalescible: boolean,
  ) {
    super('rate_limited', message, { retryAfterMs });
  }
}

/**
 * The GCRA's constants for taking `cost` tokens at `now`: the emission
 * interval, how far the take pushes the schedule back, and how far ahead of
 * now the schedule may run (the burst). The one place they are derived, for
 * both the in-memory check and the table's conditional update.
 */
export function gcraWindow(now: number, limit: RateLimit, cost = 1): { interval: number; step: number; ceiling: number } {
  const interval = 1000 / limit.perSecond;
  return { interval, step: cost * interval, ceiling: now + limit.burst * interval };
}

/**
 * GCRA (a token bucket kept as one timestamp, the theoretical arrival time):
 * the one formula both the container's memory and the table's row use. Taking
 * `cost` tokens is allowed when the schedule, pushed back by cost intervals,
 * stays within the burst. Returns the new schedule, or how long to wait.
 */
export function gcra(tat: number | undefined, now: number, limit: RateLimit, cost = 1): { next: number } | { waitMs: number } {
  const { step, ceiling } = gcraWindow(now, limit, cost);
  const next = Math.max(tat ?? now, now) + step;
  if (next <= ceiling) return { next };
  return { waitMs: Math.max(1, Math.ceil(next - ceiling)) };
}

/**
 * The same GCRA kept in this container's memory, over the frames this
 * container passed on. It refuses only a user who has gone over the limit
 * here alone, so a flood is turned away without a write, while the shared
 * limit in the table still decides everything this lets through.
 */
export class LocalAdmission {
  private readonly tat = new Map<string, number>();
  private readonly reported = new Map<string, number>();
  constructor(
    private readonly maxEntries = 10_000,
    /** While a connection floods, tell it at most this often; answering every frame would cost more than the flood. */
    private readonly reportEveryMs = 100,
  ) {}

  /**
   * Whether to answer a flood refusal: undefined to drop the frame quietly,
   * else the retryAfterMs to tell, never shorter than the quiet that follows,
   * so a client that waits as told is always answered and only frames sent in
   * spite of it go unanswered.
   */
  reportRefusal(connectionId: string, now: number, retryAfterMs: number): number | undefined {
    const quietUntil = this.reported.get(connectionId);
    if (quietUntil !== undefined && now < quietUntil) return undefined;
    // A little early counts as on time: timers and clocks are not exact.
    remember(this.reported, connectionId, now + this.reportEveryMs - 5, this.maxEntries);
    return Math.max(retryAfterMs, this.reportEveryMs);
  }

  /**
   * Whether this container last saw the user's schedule ahead of `now` (taking
   * the action just checked back out): a hint for which branch of the shared
   * bucket's update to try first, since a failed conditional write is billed too.
   */
  busy(userId: string, now: number, limit: RateLimit = BUCKETS.actions): boolean {
    const tat = this.tat.get(userId);
    return tat !== undefined && tat - gcraWindow(now, limit).interval > now;
  }

  /** Milliseconds to wait, or 0 if this container has no objection. */
  check(userId: string, now: number, limit: RateLimit = BUCKETS.actions): number {
    const result = gcra(this.tat.get(userId), now, limit);
    if ('waitMs' in result) return result.waitMs;
    remember(this.tat, userId, result.next, this.maxEntries);
    return 0;
  }
}

/**
 * Takes `cost` tokens from one of the user's buckets, or throws `rate_limited`.
 * Both branches are single conditional writes on the user row, so concurrent
 * invocations from any of the user's sockets never lose an update.
 */
export async function consume(deps: ChatDeps, userId: string, bucket: Bucket, cost = 1): Promise<void> {
  const now = deps.now();
  const refuse = (waitMs: number) =>
    new Refused(`Slow down: too many ${bucket.what}; try again in ${Math.ceil(waitMs / 1000)} s`, waitMs, bucket === BUCKETS.actions);
  const { step, ceiling } = gcraWindow(now, bucket, cost);
  // More than a full bucket can never be taken at once.
  if (cost > bucket.burst) throw refuse(step);
  const attempt = async (update: string, condition: string, values: Record<string, number>) => {
    try {
      await deps.db.send(
        new UpdateCommand({
          TableName: deps.tables.connections,
          Key: keys.user(userId),
          UpdateExpression: `${update}, expiresAt = if_not_exists(expiresAt, :exp)`,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#t': bucket.attribute },
          ExpressionAttributeValues: { ...values, ':exp': expiresAtFrom(now) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return undefined;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return { old: err.Item };
      throw err;
    }
  };
  // gcra() as two conditional writes, so the row never has to be read first.
  // Idle (tat <= now): the bucket is full, start a fresh schedule from now; it fits, as cost <= burst.
  const idle = () => attempt('SET #t = :next', 'attribute_not_exists(#t) OR #t <= :now', { ':next': now + step, ':now': now });
  // Busy (tat > now) but within the burst (tat + step <= ceiling): push the schedule back by `step`.
  const busy = () => attempt('SET #t = #t + :inc', '#t > :now AND #t <= :limit', { ':inc': step, ':now': now, ':limit': ceiling - step });
  // One branch fits; try first the one this container's memory predicts, so a busy sender pays one write, not two.
  // The schedule only moves forward: once the idle branch has failed, the busy branch alone decides.
  const attempts = bucket === BUCKETS.actions && deps.admission?.busy(userId, now) ? [busy, idle, busy] : [idle, busy];
  let old: Record<string, { N?: string }> | undefined;
  for (const next of attempts) {
    const refused = await next();
    if (!refused) return;
    old = refused.old as typeof old;
  }
  const tat = Number(old?.[bucket.attribute]?.N ?? ceiling);
  const result = gcra(tat, now, bucket, cost);
  throw refuse('waitMs' in result ? result.waitMs : 1);
}

/** The container's own objection to one more action by this user: no I/O, so it goes first. */
export function admitLocally(deps: ChatDeps, userId: string): void {
  const wait = deps.admission?.check(userId, deps.now()) ?? 0;
  if (wait > 0) throw new Refused(`Slow down: at most ${LIMITS.ratePerSecond} actions a second`, wait, true);
}

/**
 * The shared half of admission, after `admitLocally`: the user's action
 * bucket and the connection row, side by side. Undefined when the
 * connection row is missing.
 */
export async function admit(deps: ChatDeps, userId: string, connectionId: string): Promise<ConnectionRow | undefined> {
  const [, conn] = await Promise.all([consume(deps, userId, BUCKETS.actions), getConnection(deps, connectionId)]);
  return conn;
}
