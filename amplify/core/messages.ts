import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type { Identity } from './connections';
import type { ChatDeps } from './deps';
import { keys, seqKey } from './keys';
import { LIMITS, ProtocolError, type ChatMessage } from './protocol';
import { getRoom } from './rooms';

/** Idempotency keys outlive any sane client retry window. */
const DEDUP_TTL_S = 24 * 60 * 60;
/**
 * A room's order is decided by one conditional write at a time, so a burst of
 * concurrent senders queues up here; this bounds how long one send may wait.
 */
const SEQUENCE_BUDGET_MS = 5000;

export interface Posted {
  message: ChatMessage;
  /** True when this was a retry of a message already stored: nothing new was written. */
  duplicate: boolean;
}

function toMessage(item: Record<string, unknown>): ChatMessage {
  return {
    room: String(item.roomId),
    seq: Number(item.seq),
    id: String(item.id),
    senderId: String(item.senderId),
    senderName: String(item.senderName),
    text: String(item.text),
    ts: Number(item.ts),
  };
}

async function existing(deps: ChatDeps, room: string, sender: Identity, clientMsgId: string): Promise<Posted> {
  const dedup = await deps.db.send(
    new GetCommand({ TableName: deps.tables.chat, Key: keys.dedup(room, sender.userId, clientMsgId), ConsistentRead: true }),
  );
  const seq = Number(dedup.Item?.seq);
  const msg = await deps.db.send(new GetCommand({ TableName: deps.tables.chat, Key: keys.message(room, seq), ConsistentRead: true }));
  if (!msg.Item) throw new Error(`Idempotency key points at a missing message ${room}/${seq}`);
  return { message: toMessage(msg.Item), duplicate: true };
}

/**
 * Stores a message under the room's next sequence number, exactly once.
 *
 * One transaction moves the room's lastSeq from n to n+1 (conditioned on it
 * still being n), writes the message at n+1 and claims the idempotency key.
 * So seqs are gapless and strictly increasing, a lost race just retries with
 * the new n, and a retried send finds its key taken and returns the original.
 */
export async function postMessage(deps: ChatDeps, room: string, sender: Identity, text: string, clientMsgId?: string): Promise<Posted> {
  const meta = await getRoom(deps, room, true);
  if (!meta) throw new ProtocolError('room_not_found', `No room "${room}"`);
  let lastSeq = meta.lastSeq;
  const started = Date.now();
  for (let attempt = 0; Date.now() - started < SEQUENCE_BUDGET_MS; attempt++) {
    const seq = lastSeq + 1;
    const now = deps.now();
    const message: ChatMessage = { room, seq, id: randomUUID(), senderId: sender.userId, senderName: sender.userName, text, ts: now };
    try {
      await deps.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: deps.tables.chat,
                Key: keys.roomMeta(room),
                UpdateExpression: 'SET lastSeq = :seq',
                ConditionExpression: 'lastSeq = :prev',
                ExpressionAttributeValues: { ':seq': seq, ':prev': lastSeq },
                // A lost race hands back the winner's lastSeq, saving a read before the retry.
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Put: {
                TableName: deps.tables.chat,
                Item: { ...keys.message(room, seq), roomId: room, ...message, ...(clientMsgId ? { clientMsgId } : {}) },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            ...(clientMsgId
              ? [
                  {
                    Put: {
                      TableName: deps.tables.chat,
                      Item: { ...keys.dedup(room, sender.userId, clientMsgId), seq, expiresAt: Math.floor(now / 1000) + DEDUP_TTL_S },
                      ConditionExpression: 'attribute_not_exists(pk)',
                    },
                  },
                ]
              : []),
          ],
        }),
      );
      return { message, duplicate: false };
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const reasons = err.CancellationReasons ?? [];
      if (clientMsgId && reasons[2]?.Code === 'ConditionalCheckFailed') return existing(deps, room, sender, clientMsgId);
      const contended = reasons.some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
      if (!contended) throw err;
      const current = Number(reasons[0]?.Item?.lastSeq?.N);
      lastSeq = Number.isInteger(current) ? current : ((await getRoom(deps, room, true))?.lastSeq ?? lastSeq);
      // Another sender took seq n first; back off a little, with jitter, and take the next one.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * (attempt + 1))));
    }
  }
  throw new ProtocolError('unavailable', 'The room is very busy; please retry');
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

export interface HistoryPage {
  messages: ChatMessage[];
  hasMore: boolean;
}

/**
 * A page of a room's messages, always ascending by seq.
 * `after` pages forward (catch-up); `before` or nothing pages back from the newest.
 */
export async function history(deps: ChatDeps, room: string, q: HistoryQuery): Promise<HistoryPage> {
  const limit = Math.min(q.limit ?? LIMITS.historyPageDefault, LIMITS.historyPageMax);
  const forward = q.after !== undefined;
  const low = forward ? seqKey((q.after ?? 0) + 1) : seqKey(0);
  const high = q.before !== undefined ? seqKey(Math.max(q.before - 1, 0)) : seqKey(Number.MAX_SAFE_INTEGER);
  if (q.before !== undefined && q.before <= 1) return { messages: [], hasMore: false };
  const res = await deps.db.send(
    new QueryCommand({
      TableName: deps.tables.chat,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': keys.roomPk(room), ':low': low, ':high': high },
      ScanIndexForward: forward,
      Limit: limit + 1,
    }),
  );
  const items = (res.Items ?? []).map(toMessage);
  const hasMore = items.length > limit;
  const page = items.slice(0, limit);
  return { messages: forward ? page : page.reverse(), hasMore };
}
