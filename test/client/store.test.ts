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
