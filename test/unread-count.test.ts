/**
 * unreadCount against a send in flight: the counter already gives out the
 * seq, the message is not stored yet. The answer is taken as covering every
 * seq up to lastSeq, so it must wait for that message rather than miss it.
 */
import { QueryCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../amplify/core/keys';
import { unreadCount } from '../amplify/core/membership';
import { domainFixture, type DomainFixture } from './support/domain';

let f: DomainFixture;
beforeAll(async () => {
  f = await domainFixture();
});

const message = (room: string, seq: number, senderId = 'u-bob') => ({
  ...keys.message(room, seq),
  roomId: room,
  seq,
  id: `m${seq}`,
  senderId,
  senderName: 'bob',
  text: `m${seq}`,
  ts: Date.now(),
});

/** The table client, counting Queries, with `afterFirstQuery` run once the first has its answer and before the caller sees it. */
function watched(db: DynamoDBDocumentClient, afterFirstQuery?: () => Promise<unknown>) {
  let queries = 0;
  const send = db.send.bind(db) as (cmd: unknown) => Promise<unknown>;
  const hooked = async (cmd: unknown) => {
    const out = await send(cmd);
    if (cmd instanceof QueryCommand && queries++ === 0) await afterFirstQuery?.();
    return out;
  };
  const client = new Proxy(db, { get: (target, prop, receiver) => (prop === 'send' ? hooked : Reflect.get(target, prop, receiver)) });
  return { db: client, queries: () => queries, reset: () => void (queries = 0) };
}

describe('unreadCount', () => {
  it('counts again when a seq in range has no item yet, and finds the message written meanwhile', async () => {
    const room = 'flight';
    const put = (item: Record<string, unknown>) => f.deps.db.send(new PutCommand({ TableName: f.deps.tables.chat, Item: item }));
    await put(message(room, 1));
    // Seq 2 is reserved (lastSeq is 2) but its writer has not stored it when the first count runs.
    const w = watched(f.deps.db, () => put(message(room, 2)));
    expect(await unreadCount({ ...f.deps, db: w.db }, room, 'u-me', 0, 2)).toBe(2);
    expect(w.queries()).toBe(2);
  });

  it('answers at once when every seq in range is there, and leaves a gap that stays one (a dead writer) uncounted', async () => {
    const room = 'settled';
    const put = (item: Record<string, unknown>) => f.deps.db.send(new PutCommand({ TableName: f.deps.tables.chat, Item: item }));
    await put(message(room, 1));
    await put(message(room, 3));
    const w = watched(f.deps.db);
    const deps = { ...f.deps, db: w.db };
    expect(await unreadCount(deps, room, 'u-me', 0, 3)).toBe(2);
    // Seq 2 never comes: counted once and twice again, then the answer stands.
    expect(w.queries()).toBe(3);
    w.reset();
    expect(await unreadCount(deps, room, 'u-me', 1, 1)).toBe(0);
    expect(await unreadCount(deps, room, 'u-me', 2, 3)).toBe(1);
    expect(w.queries()).toBe(1);
  });
});
