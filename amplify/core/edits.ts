/**
 * Edits and deletes: events in the room's order. Each takes a seq of its own
 * and is stored there as a change item, while the message it changes is
 * updated in place, both in one transaction (edits are rare, so the doubled
 * write cost is fine). Readers then get the change live, in catch-up and in
 * history, and a message always reads as its latest change left it.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { ChatUser } from './connections';
import type { ChatDeps } from './deps';
import { keys } from './keys';
import { messageAt, reserveSeq, skip, type Reservation } from './messages';
import { ProtocolError, type RoomChange } from './protocol';

export interface Changed {
  change: RoomChange;
  /** The seq's reservation, so the fan-out can use the recipients held for its membership version. */
  reservation: Reservation;
}

/** Replaces the text of the caller's message at `target`. */
export function editMessage(deps: ChatDeps, room: string, caller: ChatUser, target: number, text: string): Promise<Changed> {
  return applyChange(deps, room, caller, target, { kind: 'edit', text });
}

/** Deletes the caller's message at `target`, leaving a tombstone: empty text, `deleted`. */
export function deleteMessage(deps: ChatDeps, room: string, caller: ChatUser, target: number): Promise<Changed> {
  return applyChange(deps, room, caller, target, { kind: 'delete' });
}

/** Refuses unless `target` holds a live message of the caller's. */
async function checkTarget(deps: ChatDeps, room: string, target: number, userId: string): Promise<void> {
  const found = await messageAt(deps, room, target);
  if (typeof found !== 'object' || found.deleted) throw new ProtocolError('message_not_found', `No message at seq ${target} in "${room}"`);
  if (found.senderId !== userId) throw new ProtocolError('forbidden', 'You can only change your own messages');
}

async function applyChange(
  deps: ChatDeps,
  room: string,
  caller: ChatUser,
  target: number,
  what: { kind: 'edit'; text: string } | { kind: 'delete' },
): Promise<Changed> {
  // Stamped before the seq is reserved, as a send's is.
  const ts = deps.now();
  // Checked before a seq is spent, so a refused change leaves nothing in the room's order.
  await checkTarget(deps, room, target, caller.userId);
  const reservation = await reserveSeq(deps, room);
  const { seq } = reservation;
  const change: RoomChange = { ...what, room, seq, target, ts, senderId: caller.userId };
  const { room: _, ...fields } = change;
  try {
    await deps.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: deps.tables.chat,
              Key: keys.message(room, target),
              UpdateExpression:
                what.kind === 'edit' ? 'SET #text = :text, editSeq = :seq, editedAt = :ts' : 'SET #text = :text, deleted = :true, editSeq = :seq, editedAt = :ts',
              // The caller's message (not a skip, not a change), not deleted, and no newer change applied:
              // concurrent changes land in seq order or not at all.
              ConditionExpression:
                'senderId = :me AND attribute_not_exists(#kind) AND attribute_not_exists(deleted) AND (attribute_not_exists(editSeq) OR editSeq < :seq)',
              ExpressionAttributeNames: { '#text': 'text', '#kind': 'kind' },
              ExpressionAttributeValues: {
                ':text': what.kind === 'edit' ? what.text : '',
                ':seq': seq,
                ':ts': ts,
                ':me': caller.userId,
                ...(what.kind === 'delete' ? { ':true': true } : {}),
              },
            },
          },
          {
            Put: {
              TableName: deps.tables.chat,
              Item: { ...keys.message(room, seq), roomId: room, ...fields, origin: deps.homeRegion },
              // A reader may have settled the seq as skipped if this writer stalled that long.
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    );
  } catch (err) {
    // The seq holds nothing now, and never will: marked skipped before the refusal is told.
    await skip(deps, room, seq).catch(() => undefined);
    throw await refusal(deps, room, target, caller.userId, err);
  }
  return { change, reservation };
}

/** Cancellation reasons a retry can resolve: another writer got there first, or throttling. */
const RETRYABLE_REASONS: ReadonlySet<string> = new Set(['None', 'ConditionalCheckFailed', 'TransactionConflict', 'ThrottlingError']);

/**
 * Why the transaction was refused, as a typed error. If the message was
 * deleted meanwhile (or is not the caller's), say so; otherwise a newer change
 * got there first or the transactions collided, which a retry (under a new,
 * higher seq) resolves.
 */
async function refusal(deps: ChatDeps, room: string, target: number, userId: string, err: unknown): Promise<unknown> {
  const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
  // Anything else (a validation error, say) is a bug, and reported as one.
  if (reasons.length === 0 || reasons.some((r) => !RETRYABLE_REASONS.has(r.Code ?? 'None'))) return err;
  if (reasons[0]?.Code === 'ConditionalCheckFailed') {
    try {
      await checkTarget(deps, room, target, userId);
    } catch (why) {
      return why;
    }
  }
  return new ProtocolError('unavailable', 'Another change to this message came first; please retry', { retryAfterMs: 100 });
}
