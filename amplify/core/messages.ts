import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type { Identity } from './connections';
import type { ChatDeps } from './deps';
import { keys, seqKey } from './keys';
import { LIMITS, ProtocolError, type ChatMessage } from './protocol';

/** Idempotency keys outlive any sane client retry window. */
const DEDUP_TTL_S = 24 * 60 * 60;
/**
 * A reserved seq whose message is still missing this long after a later
 * message was written belongs to a writer that died (Lambda times out at 25 s),
 * so readers may settle it as skipped.
 */
export const GAP_SETTLE_MS = 30_000;

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

async function existing(deps: ChatDeps, room: string, sender: Identity, clientMsgId: string): Promise<Posted | undefined> {
  const dedup = await deps.db.send(
    new GetCommand({ TableName: deps.tables.chat, Key: keys.dedup(room, sender.userId, clientMsgId), ConsistentRead: true }),
  );
  if (!dedup.Item) return undefined;
  const seq = Number(dedup.Item.seq);
  const msg = await deps.db.send(new GetCommand({ TableName: deps.tables.chat, Key: keys.message(room, seq), ConsistentRead: true }));
  if (!msg.Item) throw new Error(`Idempotency key points at a missing message ${room}/${seq}`);
  return { message: toMessage(msg.Item), duplicate: true };
}

/** Marks a reserved seq as holding no message, so readers need not wait for it. Never overwrites a message. */
async function skip(deps: ChatDeps, room: string, seq: number): Promise<void> {
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: { ...keys.message(room, seq), roomId: room, seq, skipped: true, ts: deps.now() },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
  }
}

async function reserveSeq(deps: ChatDeps, room: string): Promise<number> {
  try {
    const res = await deps.db.send(
      new UpdateCommand({
        TableName: deps.tables.chat,
        Key: keys.roomMeta(room),
        UpdateExpression: 'SET lastSeq = lastSeq + :one',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(res.Attributes?.lastSeq);
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) throw new ProtocolError('room_not_found', `No room "${room}"`);
    throw err;
  }
}

/**
 * Stores a message under the room's next sequence number, exactly once.
 *
 * The seq comes from an atomic counter on the room (ADD, so concurrent senders
 * never retry against each other), then one transaction writes the message and
 * claims the idempotency key. A retry racing its own original finds the key
 * taken: its reserved seq is marked skipped and it answers with the original.
 * A writer that fails after reserving marks its seq skipped too; one that dies
 * outright leaves a gap that readers settle after GAP_SETTLE_MS. So every seq
 * is, in the end, a message or a skip, and clients can detect real gaps.
 */
export async function postMessage(deps: ChatDeps, room: string, sender: Identity, text: string, clientMsgId?: string): Promise<Posted> {
  // The duplicate check and the reservation run side by side: retries are rare,
  // so paying a skip marker for one beats a round trip on every send.
  const [checked, reserved] = await Promise.allSettled([
    clientMsgId ? existing(deps, room, sender, clientMsgId) : undefined,
    reserveSeq(deps, room),
  ]);
  if (reserved.status === 'rejected') throw reserved.reason;
  const seq = reserved.value;
  if (checked.status === 'rejected' || checked.value) {
    await skip(deps, room, seq);
    if (checked.status === 'rejected') throw checked.reason;
    return checked.value as Posted;
  }
  const now = deps.now();
  const message: ChatMessage = { room, seq, id: randomUUID(), senderId: sender.userId, senderName: sender.userName, text, ts: now };
  const item = { ...keys.message(room, seq), roomId: room, ...message, ...(clientMsgId ? { clientMsgId } : {}) };
  try {
    if (!clientMsgId) {
      await deps.db.send(new PutCommand({ TableName: deps.tables.chat, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
    } else {
      await deps.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: deps.tables.chat, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Put: {
                TableName: deps.tables.chat,
                Item: { ...keys.dedup(room, sender.userId, clientMsgId), seq, expiresAt: Math.floor(now / 1000) + DEDUP_TTL_S },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
    }
    return { message, duplicate: false };
  } catch (err) {
    await skip(deps, room, seq).catch(() => undefined);
    const lostToOriginal =
      clientMsgId && err instanceof TransactionCanceledException && err.CancellationReasons?.[1]?.Code === 'ConditionalCheckFailed';
    if (lostToOriginal) {
      const earlier = await existing(deps, room, sender, clientMsgId);
      if (earlier) return earlier;
    }
    throw err;
  }
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

export interface HistoryPage {
  messages: ChatMessage[];
  /** Seqs in this page's range that hold no message and never will. */
  skipped: number[];
  hasMore: boolean;
}

/**
 * A page of a room's messages, always ascending by seq.
 * `after` pages forward (catch-up); `before` or nothing pages back from the newest.
 * A gap older than GAP_SETTLE_MS is settled as skipped on the way.
 */
export async function history(deps: ChatDeps, room: string, q: HistoryQuery): Promise<HistoryPage> {
  const limit = Math.min(q.limit ?? LIMITS.historyPageDefault, LIMITS.historyPageMax);
  if (q.before !== undefined && q.before <= 1) return { messages: [], skipped: [], hasMore: false };
  const forward = q.after !== undefined;
  const low = seqKey(forward ? (q.after ?? 0) + 1 : 0);
  const high = q.before !== undefined ? seqKey(q.before - 1) : seqKey(Number.MAX_SAFE_INTEGER);
  const res = await deps.db.send(
    new QueryCommand({
      TableName: deps.tables.chat,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': keys.roomPk(room), ':low': low, ':high': high },
      ScanIndexForward: forward,
      Limit: limit + 1,
    }),
  );
  const items = res.Items ?? [];
  const hasMore = items.length > limit;
  const page = items.slice(0, limit);
  if (!forward) page.reverse();
  const messages: ChatMessage[] = [];
  const skipped: number[] = [];
  let expected = forward ? (q.after ?? 0) + 1 : Number(page[0]?.seq ?? 0);
  for (const item of page) {
    const seq = Number(item.seq);
    // A gap below a message written long enough ago can only be a dead writer's.
    if (seq > expected && Number(item.ts) < deps.now() - GAP_SETTLE_MS) {
      for (let gap = expected; gap < seq; gap++) {
        await skip(deps, room, gap);
        skipped.push(gap);
      }
    }
    if (item.skipped === true) skipped.push(seq);
    else messages.push(toMessage(item));
    expected = seq + 1;
  }
  return { messages, skipped, hasMore };
}
