/**
 * Every reply fits one API Gateway message (128 KB), however big the room's
 * messages or however many rooms there are, and paging still returns every
 * item exactly once. Through the real handlers and the local gateway, whose
 * @connections answers 413 past 128 KB as API Gateway does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../../amplify/core/db';
import type { ChatDeps } from '../../amplify/core/deps';
import { keys } from '../../amplify/core/keys';
import { GAP_SETTLE_MS, history, postMessage, type HistoryPage } from '../../amplify/core/messages';
import { LIMITS, type ClientActionInput, type EventOf, type ServerEvent } from '../../amplify/core/protocol';
import { ensureRoom } from '../../amplify/core/rooms';
import { dynamoClient } from '../../local/dynamodb';
import type { LocalStack } from '../../local/stack';
import { TestClient } from '../support/client';
import { domainFixture } from '../support/domain';
import { testStack } from '../support/stack';

const MESSAGE_QUOTA = 128 * 1024;

let stack: LocalStack;
let db: DynamoDBDocumentClient;
const clients: TestClient[] = [];

/** A client that also records the byte size of every frame it receives. */
async function client(user: string): Promise<{ c: TestClient; sizes: number[] }> {
  const c = await TestClient.connect(stack.websocketUrl, await stack.token(user));
  clients.push(c);
  const sizes: number[] = [];
  c.ws.on('message', (data: Buffer) => sizes.push(data.length));
  return { c, sizes };
}

/** The token's `sub`: the user id the handlers see. */
const userIdOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sub as string;

/** Seeds the chat table the way the app's own batches write: retried with backoff, and a failure is thrown. */
const writeAll = (items: Record<string, unknown>[]): Promise<void> =>
  batchWriteAll(db, stack.tables.chat, items.map((Item) => ({ PutRequest: { Item } })), { concurrency: 8 });

/**
 * Sends an action and waits for its reply by reqId; a rate_limited answer is
 * retried after the server's retryAfterMs (at least 150 ms, past the window in
 * which a flooding socket's frames go unanswered), as a client would.
 */
async function ask(c: TestClient, action: ClientActionInput, timeoutMs = 10_000): Promise<ServerEvent> {
  for (;;) {
    const res = await c.reply(action, timeoutMs);
    if (res.type !== 'error' || res.code !== 'rate_limited') return res;
    await new Promise((r) => setTimeout(r, Math.max(res.retryAfterMs ?? 0, 150)));
  }
}

function expectHistory(e: ServerEvent): EventOf<'history'> {
  if (e.type !== 'history') throw new Error(`expected a history page, got ${JSON.stringify(e).slice(0, 300)}`);
  return e;
}

beforeAll(async () => {
  stack = await testStack();
  db = DynamoDBDocumentClient.from(dynamoClient(stack.dynamoEndpoint), { marshallOptions: { removeUndefinedValues: true } });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.close();
});

describe('history replies fit one message', () => {
  const room = 'worst-case';
  const emoji = '😀'.repeat(LIMITS.maxTextChars);
  const ascii = 'x'.repeat(LIMITS.maxTextChars);

  beforeAll(async () => {
    // Seeded through the domain on the stack's own tables: 200 sends over the socket would only measure the rate limit.
    const deps = { db, tables: stack.tables, now: () => Date.now(), homeRegion: 'local' } as unknown as ChatDeps;
    await ensureRoom(deps, room, 'Worst case');
    const sender = { userId: 'seeder-id', userName: 'seeder' };
    const texts = [...Array.from({ length: 100 }, () => emoji), ...Array.from({ length: 100 }, () => ascii)];
    // One at a time keeps seqs in text order: 1-100 emoji, 101-200 ASCII.
    for (const text of texts) await postMessage(deps, room, sender, text);
  }, 120_000);

  it('pages back from the newest with before, each reply under 128 KB, every message exactly once', async () => {
    const { c, sizes } = await client('pager');
    const seen: number[] = [];
    let before: number | undefined;
    for (let pages = 0; pages < 200; pages++) {
      const from = sizes.length;
      const page = expectHistory(await ask(c, { action: 'history', room, limit: 100, ...(before ? { before } : {}) }));
      expect(Math.max(...sizes.slice(from))).toBeLessThanOrEqual(MESSAGE_QUOTA);
      if (page.hasMore) expect(page.messages.length).toBeGreaterThan(0);
      const seqs = page.messages.map((m) => m.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      // A backward page keeps the newest: everything here is above what came before it in paging order.
      if (before !== undefined) expect(Math.max(...seqs)).toBe(before - 1);
      expect(page.skipped).toEqual([]);
      seen.push(...seqs);
      if (!page.hasMore) break;
      before = Math.min(...seqs);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('pages forward with after, each reply under 128 KB, every message exactly once', async () => {
    const { c, sizes } = await client('catcher');
    const seen: number[] = [];
    let after = 0;
    for (let pages = 0; pages < 200; pages++) {
      const from = sizes.length;
      const page = expectHistory(await ask(c, { action: 'history', room, after, limit: 100 }));
      expect(Math.max(...sizes.slice(from))).toBeLessThanOrEqual(MESSAGE_QUOTA);
      const seqs = page.messages.map((m) => m.seq);
      if (page.hasMore) expect(seqs.length).toBeGreaterThan(0);
      // A forward page keeps the oldest: it starts right after `after`.
      if (seqs.length) expect(seqs[0]).toBe(after + 1);
      for (const m of page.messages) expect(m.text).toBe(m.seq <= 100 ? emoji : ascii);
      seen.push(...seqs);
      if (!page.hasMore) break;
      after = Math.max(...seqs);
    }
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('answers history out of the seq range with a typed page, never an error', async () => {
    const { c } = await client('edgy');
    const max = Number.MAX_SAFE_INTEGER;
    for (const after of [max, max - 1, 10 ** 12, 10 ** 12 - 1, 10 ** 12 + 1, 10 ** 15, 201, 200]) {
      const page = expectHistory(await ask(c, { action: 'history', room, after }));
      expect(page).toMatchObject({ messages: [], skipped: [], hasMore: false, lastSeq: 200 });
    }
    for (const before of [max, max - 1, 10 ** 12, 10 ** 12 + 1, 10 ** 15]) {
      const page = expectHistory(await ask(c, { action: 'history', room, before, limit: 5 }));
      // Everything is before a seq past the end: the newest page.
      expect(page.messages.map((m) => m.seq)).toEqual([196, 197, 198, 199, 200]);
      expect(page.hasMore).toBe(true);
    }
    for (const q of [{ after: 0 }, { before: 0 }, { before: 1 }, { before: 2, limit: 1 }, { after: max, limit: 1 }]) {
      expectHistory(await ask(c, { action: 'history', room, ...q }));
    }
    expectHistory(await ask(c, { action: 'history', room: 'lobby', after: max }));
  });
});

describe('history pages cut to the budget keep skipped seqs inside their range', () => {
  it('pages a room of large messages and settled gaps both ways: every seq once, as a message or a skip', async () => {
    const f = await domainFixture();
    const room = 'gappy';
    await ensureRoom(f.deps, room, 'Gappy');
    const sender = { userId: 'u1', userName: 'writer' };
    const reserve = (n: number) =>
      f.deps.db.send(
        new UpdateCommand({
          TableName: f.deps.tables.chat,
          Key: keys.roomMeta(room),
          UpdateExpression: 'SET lastSeq = lastSeq + :n',
          ExpressionAttributeValues: { ':n': n },
        }),
      );
    // 60 messages of 16 KB; after every fifth, one to three seqs whose writers "died".
    for (let i = 1; i <= 60; i++) {
      await postMessage(f.deps, room, sender, '😀'.repeat(LIMITS.maxTextChars));
      if (i % 5 === 0) await reserve((i % 3) + 1);
    }
    await postMessage(f.deps, room, sender, 'last');
    f.clock.now += GAP_SETTLE_MS + 1000;
    const meta = await f.deps.db.send(new UpdateCommand({ TableName: f.deps.tables.chat, Key: keys.roomMeta(room), UpdateExpression: 'SET lastSeq = lastSeq', ReturnValues: 'ALL_NEW' }));
    const lastSeq = Number(meta.Attributes?.lastSeq);
    const all = Array.from({ length: lastSeq }, (_, i) => i + 1);
    const covered = (p: HistoryPage) => [...p.messages.map((m) => m.seq), ...p.skipped].sort((a, b) => a - b);

    const back: number[] = [];
    let before: number | undefined;
    for (let n = 0; n < 100; n++) {
      const page = await history(f.deps, room, { limit: 100, ...(before ? { before } : {}) });
      const seqs = covered(page);
      expect(new TextEncoder().encode(JSON.stringify({ type: 'history', room, ...page, lastSeq })).length).toBeLessThanOrEqual(LIMITS.replyBudgetBytes + 200);
      if (page.hasMore) expect(page.messages.length).toBeGreaterThan(0);
      // The next page back starts below the lowest seq returned, message or skip.
      const low = Math.min(...seqs);
      // Skipped seqs lie inside what this page returned: from its lowest up to `before`.
      for (const s of page.skipped) expect(s >= low && s < (before ?? Infinity)).toBe(true);
      // Contiguous: a backward page covers exactly its lowest .. before-1 (the first page, its lowest .. its highest).
      expect(seqs).toEqual(Array.from({ length: (before ?? Math.max(...seqs) + 1) - low }, (_, i) => low + i));
      back.push(...seqs);
      if (!page.hasMore) break;
      before = low;
    }
    expect([...back].sort((a, b) => a - b)).toEqual(all);

    const forward: number[] = [];
    let after = 0;
    for (let n = 0; n < 100; n++) {
      const page = await history(f.deps, room, { after, limit: 100 });
      const seqs = covered(page);
      if (page.hasMore) expect(page.messages.length).toBeGreaterThan(0);
      const high = Math.max(...seqs);
      for (const s of page.skipped) expect(s > after && s <= high).toBe(true);
      // Contiguous: a forward page covers exactly after+1 .. its highest seq.
      expect(seqs).toEqual(Array.from({ length: high - after }, (_, i) => after + 1 + i));
      forward.push(...seqs);
      if (!page.hasMore) break;
      after = high;
    }
    expect(forward).toEqual(all);
  }, 60_000);
});

describe('room lists fit one message', () => {
  const PUBLIC = 3000;
  const PRIVATE = 320;
  let token: string;
  let userId: string;
  const publicIds: string[] = [];
  const privateIds: string[] = [];

  beforeAll(async () => {
    token = await stack.token('roomy');
    userId = userIdOf(token);
    const now = Date.now();
    const meta = (id: string, name: string, isPrivate: boolean, createdBy: string) => ({
      ...keys.roomMeta(id),
      roomId: id,
      name,
      private: isPrivate,
      createdBy,
      createdAt: now,
      lastSeq: 123456,
      homeRegion: 'local',
      ...(isPrivate ? {} : { gsi1pk: keys.publicRoomsGsi, gsi1sk: id }),
    });
    const member = (id: string, name: string, uid: string) => ({
      ...keys.member(id, uid),
      userId: uid,
      userName: 'someone',
      roomId: id,
      roomName: name,
      gsi1pk: keys.userRoomsGsi(uid),
      gsi1sk: id,
    });
    const items: Record<string, unknown>[] = [];
    // Long names of four-byte characters make each summary as big as a real one can be.
    const longName = (i: number) => `${'🦜'.repeat(28)} ${String(i).padStart(5, '0')}`.slice(0, 64);
    for (let i = 0; i < PUBLIC; i++) {
      const id = `pub-${String(i).padStart(5, '0')}`;
      publicIds.push(id);
      items.push(meta(id, i % 2 ? longName(i) : `Public ${i}`, false, 'creator-of-public'));
    }
    for (let i = 0; i < PRIVATE; i++) {
      const id = `p${String(i).padStart(30, '0')}`;
      privateIds.push(id);
      items.push(meta(id, longName(i), true, 'creator-of-private'), member(id, longName(i), userId));
    }
    // Private rooms of someone else, and a public room with a stray membership row: neither may show twice or leak.
    for (let i = 0; i < 30; i++) {
      const id = `q${String(i).padStart(30, '0')}`;
      items.push(meta(id, 'Not yours', true, 'other'), member(id, 'Not yours', 'another-user'));
    }
    items.push(member('pub-00007', 'Public 7', userId));
    await writeAll(items);
  }, 120_000);

  it('pages through 3,000 public and 320 private rooms, each reply under 128 KB and 100 rooms, each room once', async () => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    clients.push(c);
    const sizes: number[] = [];
    c.ws.on('message', (data: Buffer) => sizes.push(data.length));
    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const from = sizes.length;
      const res = await ask(c, { action: 'listrooms', ...(cursor ? { cursor } : {}) });
      if (res.type !== 'rooms') throw new Error(`expected rooms, got ${JSON.stringify(res)}`);
      expect(Math.max(...sizes.slice(from))).toBeLessThanOrEqual(MESSAGE_QUOTA);
      expect(res.rooms.length).toBeGreaterThan(0);
      expect(res.rooms.length).toBeLessThanOrEqual(LIMITS.roomsPageMax);
      listed.push(...res.rooms.map((r) => r.id));
      cursor = res.nextCursor;
      expect(++pages).toBeLessThan(100);
    } while (cursor);
    expect(new Set(listed).size).toBe(listed.length);
    // The history suite's public room is in this stack too; ids sort by their bytes, as DynamoDB orders them.
    const publicAll = [...publicIds, 'worst-case'].sort((a, b) => (a < b ? -1 : 1));
    expect(listed).toEqual(['lobby', ...privateIds, ...publicAll]);
  });

  it('refuses a cursor it did not give out with bad_request, and a forged one shows nothing new', async () => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    clients.push(c);
    for (const cursor of ['x', 'm', 'p:', 'm:', 'q:lobby', 'p:LOBBY', 'p:../x', 'm:' + 'a'.repeat(33), '{"group":"m"}', 'p:a b', 'z'.repeat(LIMITS.maxCursorChars)]) {
      const res = await ask(c, { action: 'listrooms', cursor });
      if (res.type === 'error') expect(res.code, cursor).toBe('bad_request');
      else if (res.type === 'rooms') for (const r of res.rooms) expect(r.name).not.toBe('Not yours');
      else throw new Error(`unexpected ${JSON.stringify(res)}`);
    }
    const tooLong = await ask(c, { action: 'listrooms', cursor: 'p:' + 'a'.repeat(LIMITS.maxCursorChars) });
    expect(tooLong).toMatchObject({ type: 'error', code: 'bad_request' });
    // Past the end of the public rooms: an empty last page.
    expect(await ask(c, { action: 'listrooms', cursor: 'p:zzz' })).toMatchObject({ type: 'rooms', rooms: [] });
  });
});
