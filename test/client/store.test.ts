import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatStore, roomTitle, visiblePending } from '../../src/chat/store';
import { ChatSocket } from '../../src/realtime/socket';
import type { WebSocketLike } from '../../src/realtime/types';
import { FakeChatServer } from './support/fakeServer';
import { harness, range, type Harness } from './support/harness';

const waitFor = <T>(fn: () => T) => vi.waitFor(fn, { timeout: 4000, interval: 10 });

class MemoryStorage {
  data = new Map<string, string>();
  getItem = (k: string) => this.data.get(k) ?? null;
  setItem = (k: string, v: string) => void this.data.set(k, v);
}

let server: FakeChatServer;
const stores: ChatStore[] = [];
const others: Harness[] = [];

function store(user = 'alice', storage = new MemoryStorage(), typingTtlMs = 4000): ChatStore {
  let token = user;
  let issued = 0;
  const socket = new ChatSocket({
    // A refresh issues a new token (`alice~1`), as Cognito would; the fake server refuses expired ones.
    getUrl: async ({ refresh }) => `${server.url}/?token=${refresh ? (token = `${user}~${++issued}`) : token}`,
    createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
    backoff: { baseMs: 10, maxMs: 50 },
    ackTimeoutMs: 300,
    gapGraceMs: 30,
  });
  const s = new ChatStore(socket, { id: `u-${user}`, name: user }, { storage, typingTtlMs });
  stores.push(s);
  return s;
}
function other(user: string): Harness {
  const h = harness(server, user);
  others.push(h);
  return h;
}

beforeEach(async () => {
  server = await FakeChatServer.start();
  server.room('random');
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.dispose();
  for (const h of others.splice(0)) h.socket.stop();
  await server.close();
});

describe('ChatStore', () => {
  it('shows a sent message once: pending until acked, then confirmed with its seq', async () => {
    const s = store();
    s.start();
    await waitFor(() => expect(s.getSnapshot().rooms.lobby?.loaded).toBe(true));
    s.send('hello');
    const room = () => s.getSnapshot().rooms.lobby!;
    expect(room().pending).toMatchObject([{ text: 'hello', status: 'sending' }]);
    await waitFor(() => expect(room().pending).toEqual([]));
    expect(room().messages).toMatchObject([{ seq: 1, text: 'hello', senderId: 'u-alice', senderName: 'alice' }]);
    // Whatever order the ack and the echo came in, exactly one row is drawn.
    expect(room().messages.length + visiblePending(room()).length).toBe(1);
  });

  it('counts unread messages from others in rooms you are not looking at, and clears them on open', async () => {
    const s = store();
    s.start();
    await waitFor(() => expect(s.getSnapshot().rooms.lobby?.loaded).toBe(true));
    await s.join('random');
    await waitFor(() => expect(s.getSnapshot().rooms.random?.loaded).toBe(true));
    server.post('random', 'bob', 'one');
    server.post('random', 'bob', 'two');
    server.post('lobby', 'bob', 'in the open room');
    await waitFor(() => expect(s.getSnapshot().rooms.random?.unread).toBe(2));
    expect(s.getSnapshot().rooms.lobby?.unread).toBe(0);
    expect(s.getSnapshot().announcement).toBe('bob: in the open room');
    s.select('random');
    expect(s.getSnapshot().rooms.random?.unread).toBe(0);
  });

  it('marks a refused message failed, and a retry delivers it', async () => {
    const s = store();
    s.start();
    await waitFor(() => expect(s.getSnapshot().connection).toBe('online'));
    server.rateLimit = 99;
    s.send('try me');
    const room = () => s.getSnapshot().rooms.lobby!;
    await waitFor(() => expect(room().pending).toMatchObject([{ status: 'failed', error: { code: 'rate_limited' } }]));
    expect(room().error).toBe('Slow down');
    server.rateLimit = 0;
    s.retry('lobby', room().pending[0]!.clientMsgId);
    await waitFor(() => expect(room().messages.map((m) => m.text)).toEqual(['try me']));
    expect(room().pending).toEqual([]);
  });

  it('keeps a send through an expired token: no failure shown, confirmed once after the quick reconnect', async () => {
    const s = store();
    s.start();
    const room = () => s.getSnapshot().rooms.lobby!;
    await waitFor(() => expect(room().loaded).toBe(true));
    const states: string[] = [];
    s.subscribe(() => {
      if (states.at(-1) !== s.getSnapshot().connection) states.push(s.getSnapshot().connection);
    });
    server.expireTokens('alice');
    s.send('through the renewal');
    await waitFor(() => expect(room().messages.map((m) => m.text)).toEqual(['through the renewal']));
    expect(room().pending).toEqual([]);
    expect(room().error).toBeUndefined();
    expect(s.getSnapshot().notice).toBeUndefined();
    expect(states).toEqual(['online', 'reconnecting', 'online']);
    expect(server.tokens('alice')).toEqual(['alice~1']);
    expect(server.messages('lobby')).toHaveLength(1);
  });

  it('shows who is typing and forgets them after the timeout or when their message lands', async () => {
    const s = store('alice', new MemoryStorage(), 150);
    s.start();
    const bob = other('bob');
    bob.socket.start();
    await waitFor(() => expect(s.getSnapshot().rooms.lobby?.loaded).toBe(true));
    await waitFor(() => expect(bob.socket.state).toBe('online'));
    await bob.socket.join('lobby');
    bob.socket.typing('lobby');
    await waitFor(() => expect(s.getSnapshot().rooms.lobby?.typing.map((t) => t.user.name)).toEqual(['bob']));
    await waitFor(() => expect(s.getSnapshot().rooms.lobby?.typing).toEqual([]));
    expect(s.getSnapshot().rooms.lobby?.members.map((m) => m.name).sort()).toEqual(['alice', 'bob']);
  });

  it('remembers followed rooms and the open room across reloads', async () => {
    const storage = new MemoryStorage();
    const first = store('alice', storage);
    first.start();
    await waitFor(() => expect(first.getSnapshot().connection).toBe('online'));
    first.select('random');
    await waitFor(() => expect(first.getSnapshot().rooms.random?.loaded).toBe(true));
    first.dispose();
    const second = store('alice', storage);
    expect(second.getSnapshot().current).toBe('random');
    second.start();
    await waitFor(() => expect(second.getSnapshot().rooms.random?.loaded).toBe(true));
    expect(Object.values(second.getSnapshot().rooms).filter((r) => r.followed).map((r) => r.id)).toEqual(['lobby', 'random']);
  });

  it('names the lobby before any reply, so a fresh browser never shows its id', () => {
    const s = store('alice', new MemoryStorage());
    expect(roomTitle(s.getSnapshot().rooms.lobby, 'lobby')).toBe('#Lobby');
  });

  it('leaving the open room goes back to the lobby and names the room by its name, not its id', async () => {
    const s = store();
    s.start();
    await waitFor(() => expect(s.getSnapshot().connection).toBe('online'));
    server.room('plans-7', 'Plans');
    s.select('plans-7');
    await waitFor(() => expect(s.getSnapshot().rooms['plans-7']?.summary?.name).toBe('Plans'));
    await s.leave('plans-7');
    const state = s.getSnapshot();
    expect(state.current).toBe('lobby');
    expect(state.rooms['plans-7']).toMatchObject({ followed: false, blocked: 'You left #Plans. Join it again to post.' });
    expect(state.announcement).toBe('You left #Plans.');
    expect(state.directoryLoaded).toBe(true);
  });

  it('creates a private room that only invitees see, opens it by the id the server gave it, and reports refusals', async () => {
    const storage = new MemoryStorage();
    const s = store('alice', storage);
    s.start();
    await waitFor(() => expect(s.getSnapshot().connection).toBe('online'));
    const id = await s.createRoom({ private: true, name: 'Plans', invite: ['bob'] });
    expect(id).toMatch(/^p[a-z0-9]+$/);
    expect(s.getSnapshot().current).toBe(id);
    expect(s.getSnapshot().rooms[id]).toMatchObject({ followed: true, summary: { id, name: 'Plans', private: true } });
    await expect(s.createRoom({ room: 'random' })).rejects.toMatchObject({ code: 'room_exists' });
    expect(s.getSnapshot().rooms.random?.followed).toBe(false); // the optimistic entry is undone
    expect(s.getSnapshot().current).toBe(id);
    expect(await s.createRoom({ room: 'open', name: 'Open' })).toBe('open');
    const carol = other('carol');
    carol.socket.start();
    expect((await carol.socket.listRooms()).map((r) => r.id)).toEqual(['lobby', 'random', 'open']);

    // After a reload the private room is drawn by its name, not its random id, before the server answers.
    s.select(id);
    s.dispose();
    const again = store('alice', storage);
    expect(again.getSnapshot().current).toBe(id);
    expect(again.getSnapshot().rooms[id]).toMatchObject({ followed: true, label: { name: 'Plans', private: true } });
    expect(again.getSnapshot().rooms[id]?.summary).toBeUndefined();
  });

  it('loads older pages on request until the beginning', async () => {
    for (const i of range(1, 120)) server.post('lobby', 'bob', `m${i}`);
    const s = store();
    s.start();
    const room = () => s.getSnapshot().rooms.lobby!;
    await waitFor(() => expect(room().loaded).toBe(true));
    expect(room().messages).toHaveLength(50);
    expect(room().hasOlder).toBe(true);
    await s.loadOlder('lobby');
    await s.loadOlder('lobby');
    expect(room().messages.map((m) => m.seq)).toEqual(range(1, 120));
    expect(room().hasOlder).toBe(false);
  });
});

describe('ChatStore: rooms, reads, edits and DMs that follow the account', () => {
  const followed = (s: ChatStore) =>
    Object.values(s.getSnapshot().rooms)
      .filter((r) => r.followed)
      .map((r) => r.id)
      .sort();
  const room = (s: ChatStore, id: string) => s.getSnapshot().rooms[id];

  it('follows the account to a fresh store with empty storage, and drops remembered rooms that are not yours', async () => {
    const first = store('alice');
    first.start();
    await waitFor(() => expect(first.getSnapshot().connection).toBe('online'));
    await first.join('random');
    const plans = await first.createRoom({ private: true, name: 'Plans', invite: [] });
    const storage = new MemoryStorage();
    storage.setItem('parley:u-alice', JSON.stringify({ rooms: ['lobby', 'gone'], current: 'gone', labels: { gone: { name: 'Gone', private: false } } }));
    server.room('gone', 'Gone');
    const second = store('alice', storage);
    // First paint from what this browser remembered...
    expect(followed(second)).toEqual(['gone', 'lobby']);
    second.start();
    // ...then the server's list: every room of the account, and none that is not.
    await waitFor(() => expect(followed(second)).toEqual(['lobby', plans, 'random'].sort()));
    expect(room(second, plans)).toMatchObject({ summary: { name: 'Plans', private: true } });
    expect(second.getSnapshot().current).toBe('lobby');
    expect(JSON.parse(storage.getItem('parley:u-alice')!)).toMatchObject({ rooms: expect.arrayContaining(['lobby', 'random', plans]) });
  });

  it('reading on one device clears the unread count on the other', async () => {
    server.room('news', 'News', false, ['alice']);
    const phone = store('alice');
    const laptop = store('alice');
    phone.start();
    laptop.start();
    await waitFor(() => expect([room(phone, 'news')?.loaded, room(laptop, 'news')?.loaded]).toEqual([true, true]));
    server.post('news', 'bob', 'one');
    server.post('news', 'bob', 'two');
    await waitFor(() => expect([room(phone, 'news')?.unread, room(laptop, 'news')?.unread]).toEqual([2, 2]));
    phone.select('news');
    expect(room(phone, 'news')?.unread).toBe(0);
    await waitFor(() => expect(room(laptop, 'news')).toMatchObject({ unread: 0, lastRead: 2 }));
    expect(server.lastRead('news', 'alice')).toBe(2);
    // While looking, live messages stay read, here and there.
    server.post('news', 'bob', 'three');
    await waitFor(() => expect(server.lastRead('news', 'alice')).toBe(3));
    await waitFor(() => expect(room(laptop, 'news')).toMatchObject({ unread: 0, lastRead: 3 }));
    expect(room(phone, 'news')?.unread).toBe(0);
  });

  it('takes the unread count from the server after a reconnect, without counting the caught-up messages again', async () => {
    server.room('news', 'News', false, ['alice']);
    const s = store('alice');
    s.start();
    await waitFor(() => expect(room(s, 'news')?.loaded).toBe(true));
    server.refuse = true;
    server.drop('alice');
    await waitFor(() => expect(s.getSnapshot().connection).toBe('reconnecting'));
    for (const i of range(1, 3)) server.post('news', 'bob', `missed ${i}`);
    server.refuse = false;
    await waitFor(() => expect(room(s, 'news')?.messages).toHaveLength(3));
    await waitFor(() => expect(s.getSnapshot().connection).toBe('online'));
    expect(room(s, 'news')?.unread).toBe(3);
    server.post('news', 'bob', 'live');
    await waitFor(() => expect(room(s, 'news')?.unread).toBe(4));
  });

  it('places the "New messages" divider where reading stopped when the room was opened with unread messages', async () => {
    server.room('news', 'News', false, ['alice']);
    for (const i of range(1, 2)) server.post('news', 'bob', `read ${i}`);
    server.rooms.get('news')!.reads.set('alice', 2);
    for (const i of range(3, 5)) server.post('news', 'bob', `new ${i}`);
    const s = store('alice');
    s.start();
    await waitFor(() => expect(room(s, 'news')).toMatchObject({ unread: 3, lastRead: 2, loaded: true }));
    expect(room(s, 'news')?.dividerAt).toBeUndefined();
    s.select('news');
    expect(room(s, 'news')).toMatchObject({ unread: 0, dividerAt: 2 });
    await waitFor(() => expect(room(s, 'news')?.lastRead).toBe(5));
    // It stays put while you read on, and goes when you come back with nothing new.
    server.post('news', 'bob', 'while looking');
    await waitFor(() => expect(server.lastRead('news', 'alice')).toBe(6));
    expect(room(s, 'news')?.dividerAt).toBe(2);
    s.select('lobby');
    s.select('news');
    expect(room(s, 'news')?.dividerAt).toBeUndefined();

    // A reload into the room: the divider comes with the server's count, and the room is read at once.
    s.dispose();
    server.post('news', 'bob', 'after the reload');
    const storage = new MemoryStorage();
    storage.setItem('parley:u-alice', JSON.stringify({ rooms: ['lobby', 'news'], current: 'news', labels: {} }));
    const again = store('alice', storage);
    again.start();
    await waitFor(() => expect(room(again, 'news')).toMatchObject({ unread: 0, dividerAt: 6, loaded: true }));
    await waitFor(() => expect(server.lastRead('news', 'alice')).toBe(7));
  });

  it('shows edits and deletes live, and a fresh store loads them from history', async () => {
    const alice = store('alice');
    const bob = store('bob');
    alice.start();
    bob.start();
    await waitFor(() => expect([room(alice, 'lobby')?.loaded, room(bob, 'lobby')?.loaded]).toEqual([true, true]));
    alice.send('tpyo');
    alice.send('regret');
    await waitFor(() => expect(room(alice, 'lobby')?.messages.map((m) => m.seq)).toEqual([1, 2]));
    await waitFor(() => expect(room(bob, 'lobby')?.messages.map((m) => m.text)).toEqual(['tpyo', 'regret']));
    await alice.editMessage('lobby', 1, 'typo');
    await alice.deleteMessage('lobby', 2);
    // Your own change shows once the server confirmed it, when the promise resolves.
    expect(room(alice, 'lobby')?.messages).toEqual([
      expect.objectContaining({ seq: 1, text: 'typo', editSeq: 3, editedAt: expect.any(Number) }),
      expect.objectContaining({ seq: 2, text: '', deleted: true, editSeq: 4 }),
    ]);
    await waitFor(() =>
      expect(room(bob, 'lobby')?.messages).toEqual([
        expect.objectContaining({ seq: 1, text: 'typo', editSeq: 3 }),
        expect.objectContaining({ seq: 2, text: '', deleted: true }),
      ]),
    );
    await expect(bob.editMessage('lobby', 1, 'mine now')).rejects.toMatchObject({ code: 'forbidden' });
    await expect(alice.editMessage('lobby', 1, ' ')).rejects.toMatchObject({ code: 'empty' });
    const carol = store('carol');
    carol.start();
    await waitFor(() => expect(room(carol, 'lobby')?.loaded).toBe(true));
    expect(room(carol, 'lobby')?.messages).toEqual([
      expect.objectContaining({ seq: 1, text: 'typo', editSeq: 3 }),
      expect.objectContaining({ seq: 2, text: '', deleted: true }),
    ]);
  });

  it('opens a DM by name, and it appears for the other person live, named after each other', async () => {
    const alice = store('alice');
    const bob = store('bob');
    alice.start();
    bob.start();
    await waitFor(() => expect([alice.getSnapshot().connection, bob.getSnapshot().connection]).toEqual(['online', 'online']));
    await waitFor(() => expect(room(bob, 'lobby')?.loaded).toBe(true));
    const id = await alice.openDm('bob');
    expect(alice.getSnapshot().current).toBe(id);
    expect(room(alice, id)).toMatchObject({ followed: true, dm: { id: 'u-bob', name: 'bob' } });
    expect(roomTitle(room(alice, id), id)).toBe('bob');
    await waitFor(() => expect(room(bob, id)).toMatchObject({ followed: true, dm: { id: 'u-alice', name: 'alice' } }));
    expect(roomTitle(room(bob, id), id)).toBe('alice');
    expect(bob.getSnapshot().current).toBe('lobby');
    expect(bob.getSnapshot().announcement).toBe('alice added you to alice.');
    alice.send('psst');
    await waitFor(() => expect(room(bob, id)).toMatchObject({ unread: 1, messages: [expect.objectContaining({ text: 'psst' })] }));
    await expect(alice.openDm('nobody')).rejects.toMatchObject({ code: 'unknown_user' });
  });

  it('leaving on one device leaves on the other, back to the lobby with a notice if it was open there', async () => {
    server.room('news', 'News', false, ['alice']);
    const phone = store('alice');
    const laptop = store('alice');
    phone.start();
    laptop.start();
    await waitFor(() => expect([room(phone, 'news')?.followed, room(laptop, 'news')?.loaded]).toEqual([true, true]));
    laptop.select('news');
    await phone.leave('news');
    await waitFor(() => expect(room(laptop, 'news')?.followed).toBe(false));
    expect(laptop.getSnapshot().current).toBe('lobby');
    expect(laptop.getSnapshot().notice).toBe('You are no longer in #News.');
  });

  it('adds new public rooms to the directory as they are created', async () => {
    const alice = store('alice');
    const carol = store('carol');
    alice.start();
    carol.start();
    await waitFor(() => expect(carol.getSnapshot().directoryLoaded).toBe(true));
    await waitFor(() => expect(room(carol, 'lobby')?.loaded).toBe(true));
    await alice.createRoom({ room: 'fresh', name: 'Fresh' });
    await waitFor(() => expect(carol.getSnapshot().directory.map((r) => r.id)).toContain('fresh'));
    expect(room(carol, 'fresh')?.followed ?? false).toBe(false);
  });
});
