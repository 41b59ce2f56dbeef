import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type { ChatUser } from './connections';
import type { ChatDeps } from './deps';
import { fitBudget, jsonBytes } from './budget';
import { keys, MAX_SEQ, seqKey } from './keys';
import { updateMeta } from './rooms';
import { LIMITS, ProtocolError, type ChatMessage, type RoomChange } from './protocol';

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

/**
 * A message as it reads now: an edit's text with its editSeq/editedAt, or a
 * tombstone once deleted. Only for items that hold a message (see isChange).
 */
export function toMessage(item: Record<string, unknown>): ChatMessage {
  const deleted = item.deleted === true;
  return {
    room: String(item.roomId),
    seq: Number(item.seq),
    id: String(item.id),
    senderId: String(item.senderId),
    senderName: String(item.senderName),
    text: deleted ? '' : String(item.text),
    ts: Number(item.ts),
    ...(item.editSeq !== undefined ? { editSeq: Number(item.editSeq), editedAt: Number(item.editedAt) } : {}),
    ...(deleted ? { deleted: true as const } : {}),
  };
}

/** A seq item that records an edit or a delete of an earlier seq (edits.ts): it holds no message and never will. */
export const isChange = (item: Record<string, unknown>): boolean => item.kind !== undefined;

export function toChange(item: Record<string, unknown>): RoomChange {
  const common = { room: String(item.roomId), seq: Number(item.seq), target: Number(item.target), ts: Number(item.ts), senderId: String(item.senderId) };
  return item.kind === 'edit' ? { kind: 'edit', ...common, text: String(item.text) } : { kind: 'delete', ...common };
}

/**
 * The stored message at a seq, or why there is none: never written (yet),
 * settled as skipped, or taken by a change. A change's seq was reserved by an
 * edit, so no send's retry can ever find one at its own seq; callers that
 * treat 'skipped' and 'change' alike (nothing will ever be written there) are right.
 */
export async function messageAt(deps: ChatDeps, room: string, seq: number): Promise<ChatMessage | 'missing' | 'skipped' | 'change'> {
  const res = await deps.db.send(new GetCommand({ TableName: deps.tables.chat, Key: keys.message(room, seq), ConsistentRead: true }));
  if (!res.Item) return 'missing';
  if (res.Item.skipped === true) return 'skipped';
  return isChange(res.Item) ? 'change' : toMessage(res.Item);
}

/**
 * Marks a reserved seq as holding no message, so readers need not wait for it.
 * Never overwrites a message: the condition is checked against this replica
 * only, so only the room's home region may call this (see history's `settle`).
 * Every seq item carries `origin`, the region that wrote it, which the other
 * regions' stream fan-out filters on.
 */
export async function skip(deps: ChatDeps, room: string, seq: number): Promise<void> {
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: { ...keys.message(room, seq), roomId: room, seq, skipped: true, ts: deps.now(), origin: deps.homeRegion },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
  }
}

/** A seq taken from the room's counter, with the room's membership version read in the same write. */
export interface Reservation {
  seq: number;
  /** META `mv`: bumped by every join and leave after its row is written (see connections.ts). */
  version: number;
}

export async function reserveSeq(deps: ChatDeps, room: string): Promise<Reservation> {
  const updated = await updateMeta(deps, room, {
    // Naming mv in the update makes UPDATED_NEW return it, without returning the whole item.
    UpdateExpression: 'SET lastSeq = lastSeq + :one, mv = if_not_exists(mv, :zero)',
    ExpressionAttributeValues: { ':one': 1, ':zero': 0 },
    ReturnValues: 'UPDATED_NEW',
  });
  if (!updated) throw new ProtocolError('room_not_found', `No room "${room}"`);
  return { seq: Number(updated.lastSeq), version: Number(updated.mv ?? 0) };
}

const conditionFailed = (err: unknown) => err instanceof ConditionalCheckFailedException;

/**
 * Stores a message at a reserved seq, exactly once per (room, sender, clientMsgId).
 *
 * Two plain conditional puts, one after the other, instead of a transaction
 * (which bills both items twice): first the idempotency key, which names the
 * seq, then the message. A retry finds the key taken and answers with what it
 * names; its own reserved seq is marked skipped. If the writer that took the
 * key died before writing the message, the retry writes it at that seq (or,
 * once a reader has settled that seq as skipped, moves the key to its own).
 * A writer that fails after reserving marks its seq skipped; one that dies
 * outright leaves a gap that readers settle after GAP_SETTLE_MS. So every seq
 * is, in the end, one message or a skip, and clients can detect real gaps.
 */
export async function storeMessage(
  deps: ChatDeps,
  room: string,
  seq: number,
  sender: ChatUser,
  text: string,
  clientMsgId: string | undefined,
  ts: number,
  /** The client says this clientMsgId was never sent before (see `firstAttempt` below). */
  firstAttempt = false,
  /**
   * The socket that gets this message as its ack, in another region: stored
   * so that region's stream fan-out sends it no copy (core/replica.ts).
   */
  ackedConnection?: string,
): Promise<Posted> {
  const message: ChatMessage = { room, seq, id: randomUUID(), senderId: sender.userId, senderName: sender.userName, text, ts };
  const put = (m: ChatMessage) =>
    deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: {
          ...keys.message(room, m.seq),
          roomId: room,
          ...m,
          ...(clientMsgId ? { clientMsgId } : {}),
          ...(ackedConnection ? { ackedConnection } : {}),
          origin: deps.homeRegion,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  try {
    if (clientMsgId && firstAttempt) return await storeFirstAttempt(deps, room, message, clientMsgId, put);
    if (clientMsgId) {
      const claimed = await claimKey(deps, room, sender.userId, clientMsgId, seq, ts);
      if (claimed !== seq) {
        await skip(deps, room, seq);
        return await completeEarlier(deps, room, sender, text, clientMsgId, claimed, ts);
      }
    }
    try {
      await put(message);
    } catch (err) {
      if (!conditionFailed(err)) throw err;
      // Only a retry finishing for a writer it took for dead writes at a seq that is not its own.
      const found = await messageAt(deps, room, seq);
      if (typeof found === 'object') return { message: found, duplicate: true };
      throw err;
    }
    return { message, duplicate: false };
  } catch (err) {
    await skip(deps, room, seq).catch(() => undefined);
    throw err;
  }
}

/**
 * A first attempt has no original to race, so its key and its message are
 * written side by side, one round instead of two. Should the key turn out
 * taken all the same (a client reusing an id without saying so, or an
 * original that stalled past its own retry), the message is withdrawn, marked
 * skipped before anyone is sent it, and the answer is the key's message.
 */
async function storeFirstAttempt(
  deps: ChatDeps,
  room: string,
  message: ChatMessage,
  clientMsgId: string,
  put: (m: ChatMessage) => Promise<unknown>,
): Promise<Posted> {
  const sender = { userId: message.senderId, userName: message.senderName };
  const [claimed, written] = await Promise.allSettled([claimKey(deps, room, sender.userId, clientMsgId, message.seq, message.ts), put(message)]);
  if (claimed.status === 'fulfilled' && claimed.value === message.seq) {
    if (written.status === 'fulfilled') return { message, duplicate: false };
    // Our key, but not our message: a retry that took this writer for dead wrote it first.
    if (conditionFailed(written.reason)) {
      const found = await messageAt(deps, room, message.seq);
      if (typeof found === 'object') return { message: found, duplicate: true };
    }
    // The caller marks the seq skipped; a retry then finds the key naming a skip and moves it.
    throw written.reason;
  }
  if (written.status === 'fulfilled') await withdraw(deps, room, message);
  if (claimed.status === 'rejected') throw claimed.reason;
  await skip(deps, room, message.seq);
  return completeEarlier(deps, room, sender, message.text, clientMsgId, claimed.value, message.ts);
}

/** Turns a message nobody was sent into a skip, unless it is no longer ours. */
async function withdraw(deps: ChatDeps, room: string, message: ChatMessage): Promise<void> {
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: { ...keys.message(room, message.seq), roomId: room, seq: message.seq, skipped: true, ts: deps.now(), origin: deps.homeRegion },
        ConditionExpression: 'id = :id',
        ExpressionAttributeValues: { ':id': message.id },
      }),
    );
  } catch (err) {
    if (!conditionFailed(err)) throw err;
  }
}

/** Claims the idempotency key for `seq`; returns the seq the key names, ours or an earlier attempt's. */
async function claimKey(deps: ChatDeps, room: string, userId: string, clientMsgId: string, seq: number, ts: number): Promise<number> {
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tables.chat,
        Item: { ...keys.dedup(room, userId, clientMsgId), seq, expiresAt: Math.floor(ts / 1000) + DEDUP_TTL_S },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return seq;
  } catch (err) {
    if (!conditionFailed(err)) throw err;
    return Number((err as ConditionalCheckFailedException).Item?.seq?.N);
  }
}

/**
 * A retry of a message whose key names `earlier`: the original if it was
 * stored; written now at that seq if its writer died first; re-posted under
 * a fresh seq if that seq was already settled as skipped.
 */
async function completeEarlier(
  deps: ChatDeps,
  room: string,
  sender: ChatUser,
  text: string,
  clientMsgId: string,
  earlier: number,
  ts: number,
): Promise<Posted> {
  const found = await messageAt(deps, room, earlier);
  if (typeof found === 'object') return { message: found, duplicate: true };
  if (found === 'missing') {
    const message: ChatMessage = { room, seq: earlier, id: randomUUID(), senderId: sender.userId, senderName: sender.userName, text, ts };
    try {
      await deps.db.send(
        new PutCommand({
          TableName: deps.tables.chat,
          Item: { ...keys.message(room, earlier), roomId: room, ...message, clientMsgId, origin: deps.homeRegion },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { message, duplicate: false };
    } catch (err) {
      if (!conditionFailed(err)) throw err;
      // The original's writer (or a reader settling the gap) got there first: look again.
      return completeEarlier(deps, room, sender, text, clientMsgId, earlier, ts);
    }
  }
  // Settled as skipped: the original never landed, so this attempt is the message, under a fresh seq.
  const next = await reserveSeq(deps, room);
  await deps.db
    .send(
      new UpdateCommand({
        TableName: deps.tables.chat,
        Key: keys.dedup(room, sender.userId, clientMsgId),
        UpdateExpression: 'SET seq = :next',
        ConditionExpression: 'seq = :earlier',
        ExpressionAttributeValues: { ':next': next.seq, ':earlier': earlier },
      }),
    )
    .catch((err: unknown) => {
      // Another retry moved it first; storeMessage follows the key wherever it now points.
      if (!conditionFailed(err)) throw err;
    });
  return storeMessage(deps, room, next.seq, sender, text, clientMsgId, ts);
}

/** Reserves the next seq and stores the message there: the whole write side of a send. */
export async function postMessage(deps: ChatDeps, room: string, sender: ChatUser, text: string, clientMsgId?: string): Promise<Posted> {
  // Stamped before the seq is reserved, so a message's ts is never earlier than anything its seq depends on.
  const ts = deps.now();
  const { seq } = await reserveSeq(deps, room);
  return storeMessage(deps, room, seq, sender, text, clientMsgId, ts);
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
  /** Edits and deletes in this page's range. */
  changes: RoomChange[];
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
 * Edits and deletes are items of their own seqs: they count toward `limit` and
 * the budget, go in `changes`, and fill their seq like any item, while the
 * messages they changed already read as changed.
 * Seqs past MAX_SEQ never exist: `after` past it answers an empty page,
 * `before` past it means "the newest".
 * Only the room's home settles gaps (`settle`): in another region a gap may
 * be a message still replicating, and a skip written there would replace it
 * everywhere under last-writer-wins.
 */
export async function history(deps: ChatDeps, room: string, q: HistoryQuery, opts: { settle?: boolean } = {}): Promise<HistoryPage> {
  const settle = opts.settle ?? true;
  const limit = Math.min(q.limit ?? LIMITS.historyPageDefault, LIMITS.historyPageMax);
  if (q.before !== undefined && q.before <= 1) return { messages: [], skipped: [], changes: [], hasMore: false };
  if (q.after !== undefined && q.after >= MAX_SEQ) return { messages: [], skipped: [], changes: [], hasMore: false };
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
    if (settle && high - low > 1 && Number(upper.ts) < settledBefore) for (let gap = low + 1; gap < high; gap++) gaps.push(gap);
    const own = item.skipped === true ? digits(seq) : jsonBytes(isChange(item) ? toChange(item) : toMessage(item));
    return { item, seq, gaps, bytes: own + gaps.reduce((n, g) => n + digits(g) + 1, 0) };
  });
  const fitted = fitBudget(entries, (e) => e.bytes);
  if (fitted.cut) hasMore = true;
  const kept = forward ? fitted.kept : fitted.kept.reverse();
  const messages: ChatMessage[] = [];
  const skipped: number[] = [];
  const changes: RoomChange[] = [];
  for (const e of kept) {
    for (const gap of e.gaps) await skip(deps, room, gap);
    if (forward) skipped.push(...e.gaps);
    if (e.item.skipped === true) skipped.push(e.seq);
    else if (isChange(e.item)) changes.push(toChange(e.item));
    else messages.push(toMessage(e.item));
    if (!forward) skipped.push(...e.gaps);
  }
  return { messages, skipped, changes, hasMore };
}
