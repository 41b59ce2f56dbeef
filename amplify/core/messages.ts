import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type { Identity } from './connections';
import type { ChatDeps } from './deps';
import { fitBudget, jsonBytes } from './budget';
import { keys, MAX_SEQ, seqKey } from './keys';
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
export async function postMessage(
  deps: ChatDeps,
  room: string,
  sender: Identity,
  text: string,
  clientMsgId?: string,
  /** Called once the seq is reserved, before the message is written: work that must see everything before it. */
  onSequenced?: () => void,
): Promise<Posted> {
  // Stamped before the seq is reserved, so a message's ts is never earlier than anything its seq depends on.
  const now = deps.now();
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
  onSequenced?.();
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

/** One item of a page with the settled gaps between it and its neighbour before it in reading order. */
interface Entry {
  item: Record<string, unknown>;
  seq: number;
  /** Seqs with no item, older than GAP_SETTLE_MS, between this item and the previous one read. */
  gaps: number[];
  bytes: number;
}

const digits = (n: number) => String(n).length;

/**
 * A page of a room's messages, always ascending by seq.
 * `after` pages forward (catch-up) and keeps the oldest; `before` or nothing
 * pages back from the newest and keeps the newest, so the next page back is
 * `before` the lowest seq returned. A page holds at most `limit` items and
 * stops before the encoded `history` event would pass LIMITS.replyBudgetBytes
 * (`hasMore` then says so). `skipped` lists only seqs inside the returned
 * range. A gap older than GAP_SETTLE_MS is settled as skipped on the way.
 * Seqs past MAX_SEQ never exist: `after` past it answers an empty page,
 * `before` past it means "the newest".
 */
export async function history(deps: ChatDeps, room: string, q: HistoryQuery): Promise<HistoryPage> {
  const limit = Math.min(q.limit ?? LIMITS.historyPageDefault, LIMITS.historyPageMax);
  if (q.before !== undefined && q.before <= 1) return { messages: [], skipped: [], hasMore: false };
  if (q.after !== undefined && q.after >= MAX_SEQ) return { messages: [], skipped: [], hasMore: false };
  const forward = q.after !== undefined;
  const after = q.after ?? 0;
  const before = Math.min(q.before ?? MAX_SEQ + 1, MAX_SEQ + 1);
  // Paging back, the item at `before` itself (the previous page's lowest) is read too, only to
  // settle the gap between it and this page's highest; a gap is settled by the item above it.
  const above = !forward && q.before !== undefined && q.before <= MAX_SEQ ? q.before : undefined;
  const res = await deps.db.send(
    new QueryCommand({
      TableName: deps.tables.chat,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': keys.roomPk(room), ':low': seqKey(forward ? after + 1 : 0), ':high': seqKey(above ?? before - 1) },
      ScanIndexForward: forward,
      Limit: limit + 1 + (above === undefined ? 0 : 1),
    }),
  );
  const items = res.Items ?? [];
  const neighbour = above !== undefined && Number(items[0]?.seq) === above ? items.shift() : undefined;
  // DynamoDB stops a Query at 1 MB, which 100 large messages pass: then the key it hands back is the "more".
  let hasMore = items.length > limit || res.LastEvaluatedKey !== undefined;
  // In reading order: ascending when paging forward, descending when paging back.
  const read = items.slice(0, limit);
  const settledBefore = deps.now() - GAP_SETTLE_MS;
  const entries = read.map((item, i): Entry => {
    const seq = Number(item.seq);
    // The gap lies between this item and the one read before it; a gap below an
    // item written long enough ago can only be a dead writer's.
    const [low, high, upper] = forward
      ? [i === 0 ? after : Number(read[i - 1]?.seq), seq, item]
      : i === 0
        ? neighbour
          ? [seq, above as number, neighbour]
          : [seq, seq, item]
        : [seq, Number(read[i - 1]?.seq), read[i - 1] as Record<string, unknown>];
    const gaps: number[] = [];
    if (high - low > 1 && Number(upper.ts) < settledBefore) for (let gap = low + 1; gap < high; gap++) gaps.push(gap);
    const own = item.skipped === true ? digits(seq) : jsonBytes(toMessage(item));
    return { item, seq, gaps, bytes: own + gaps.reduce((n, g) => n + digits(g) + 1, 0) };
  });
  const fitted = fitBudget(entries, (e) => e.bytes);
  if (fitted.cut) hasMore = true;
  const kept = forward ? fitted.kept : fitted.kept.reverse();
  const messages: ChatMessage[] = [];
  const skipped: number[] = [];
  for (const e of kept) {
    for (const gap of e.gaps) await skip(deps, room, gap);
    if (forward) skipped.push(...e.gaps);
    if (e.item.skipped === true) skipped.push(e.seq);
    else messages.push(toMessage(e.item));
    if (!forward) skipped.push(...e.gaps);
  }
  return { messages, skipped, hasMore };
}
