/**
 * Issue 10 on the client, against the in-process chat server over real
 * sockets: a region failover is the next attempt's URL and loses nothing,
 * and a room whose home region is down waits instead of failing.
 */
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RegionEndpoint } from '../../amplify/regions/list';
import { ChatStore } from '../../src/chat/store';
import { RegionRouter } from '../../src/realtime/regions';
import { ChatSocket } from '../../src/realtime/socket';
import type { WebSocketLike } from '../../src/realtime/types';
import { FakeChatServer } from './support/fakeServer';
import { harness, range, type Harness } from './support/harness';

const waitFor = <T>(fn: () => T, timeout = 6000) => vi.waitFor(fn, { timeout, interval: 10 });

class MemoryStorage {
  data = new Map<string, string>();
  getItem = (k: string) => this.data.get(k) ?? null;
  setItem = (k: string, v: string) => void this.data.set(k, v);
}

let server: FakeChatServer;
const clients: Harness[] = [];
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  server = await FakeChatServer.start();
});
afterEach(async () => {
  for (const off of cleanups.splice(0)) off();
  for (const c of clients.splice(0)) c.socket.stop();
  await server.close();
});

const counts = (h: Harness, room: string) => {
  const m = new Map<number, number>();
  for (const msg of h.delivered) if (msg.room === room) m.set(msg.seq, (m.get(msg.seq) ?? 0) + 1);
  return [...m.values()];
};

describe('region failover', () => {
  it('moves to the next region after N refused attempts, each attempt resolving its URL afresh, catches up from the last seq, and moves back once the region is healthy', async () => {
    // Two regions on one server, one path each: the replicated tables are one store.
    const regions: RegionEndpoint[] = [
      { region: 'a', websocketUrl: `${server.url}/a` },
      { region: 'b', websocketUrl: `${server.url}/b` },
    ];
    const router = new RegionRouter({
      regions,
      storage: new MemoryStorage(),
      probe: (url) => Promise.resolve(url.endsWith('/a') ? 10 : 50),
      failoverAfter: 3,
      recheckMs: 100,
      check: (endpoint) => Promise.resolve(!server.downPaths.has(new URL(endpoint.websocketUrl).pathname)),
    });
    const urls: string[] = [];
    const h = harness(server, 'alice', {
      getUrl: async () => {
        const url = `${(await router.resolve()).websocketUrl}?token=alice`;
        urls.push(new URL(url).pathname);
        return url;
      },
    });
    clients.push(h);
    cleanups.push(router.attach(h.socket.connection), () => router.stop());
    router.start();
    server.room('beta', 'beta', false, ['alice']);
    for (const i of range(1, 5)) server.post('lobby', 'bob', `before ${i}`);
    h.socket.start(['lobby', 'beta']);
    await waitFor(() => expect(h.seqs('lobby')).toEqual(range(1, 5)));
    expect(urls).toEqual(['/a']);
    expect(router.getStatus()).toMatchObject({ current: 'a', connected: true });

    // Region a goes down: its socket drops and every new one is refused.
    server.downPaths.add('/a');
    server.drop('alice');
    for (const i of range(6, 12)) server.post('lobby', 'bob', `during ${i}`);
    server.post('beta', 'bob', 'beta during');
    await waitFor(() => expect(h.socket.state).not.toBe('online'));
    const queued = h.socket.sendMessage('lobby', 'sent while moving');

    await waitFor(() => expect(router.getStatus()).toMatchObject({ current: 'b', connected: true, failedOver: true }));
    // The first connect, three refused attempts at a, then b: a URL per attempt, none reused.
    expect(urls).toEqual(['/a', '/a', '/a', '/a', '/b']);
    expect(server.paths).toEqual(['/a', '/b']);
    // Nothing missed while moving is lost, nothing is delivered twice, and the queued send lands once.
    await waitFor(() => expect(server.messages('lobby').map((m) => m.text)).toContain('sent while moving'));
    await waitFor(() => expect(h.seqs('lobby')).toEqual(range(1, 13)));
    await waitFor(() => expect(h.rooms.get('beta')?.map((m) => m.text)).toEqual(['beta during']));
    expect(counts(h, 'lobby').every((n) => n === 1)).toBe(true);
    expect(server.messages('lobby').filter((m) => m.text === 'sent while moving')).toHaveLength(1);
    expect(h.socket.lastSeq('lobby')).toBe(13);
    const catchUps = server.log.filter((l) => l.action.action === 'history' && l.action.room === 'lobby' && l.action.after !== undefined);
    expect(catchUps[0]?.action).toMatchObject({ after: 5 });
    expect(queued).toBeTypeOf('string');

    // a is back: the recheck finds it healthy and the connection moves back, catching up again.
    server.downPaths.delete('/a');
    await waitFor(() => expect(router.getStatus()).toMatchObject({ current: 'a', connected: true, failedOver: false }));
    expect(urls.at(-1)).toBe('/a');
    server.post('lobby', 'bob', 'after');
    await waitFor(() => expect(h.seqs('lobby')).toEqual(range(1, 14)));
    expect(counts(h, 'lobby').every((n) => n === 1)).toBe(true);
  });
});

describe('a room whose home region is down', () => {
  it('keeps a send pending, retries it with the same clientMsgId marked retry after retryAfterMs, never reports it failed, and delivers it once', async () => {
    server.room('alpha', 'alpha', false, ['alice']);
    server.homeDown.add('alpha');
    const h = harness(server, 'alice', { random: () => 0 });
    clients.push(h);
    const failed = vi.fn();
    const waiting = vi.fn();
    const acks = vi.fn();
    h.socket.on('sendfailed', failed);
    h.socket.on('sendwaiting', waiting);
    h.socket.on('ack', acks);
    h.socket.start(['lobby', 'alpha']);
    await waitFor(() => expect(h.socket.lastSeq('alpha')).toBe(0));
    const id = h.socket.sendMessage('alpha', 'patient');
    // Past MAX_RETRIES (5) refusals: a rate_limited send would have failed by now.
    const sends = () => server.log.filter((l) => l.action.action === 'sendmessage');
    await waitFor(() => expect(sends().length).toBeGreaterThanOrEqual(7), 20_000);
    expect(waiting).toHaveBeenCalledWith({ room: 'alpha', clientMsgId: id, error: expect.objectContaining({ code: 'home_unavailable', retryAfterMs: 20 }) });
    expect(failed).not.toHaveBeenCalled();
    expect(sends().map((l) => l.action)).toEqual(sends().map((_, i) => expect.objectContaining({ clientMsgId: id, ...(i > 0 ? { retry: true } : {}) })));
    // Each retry waited at least the server's retryAfterMs.
    const gaps = sends().slice(1).map((l, i) => l.at - sends()[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(20);

    server.homeDown.delete('alpha');
    await waitFor(() => expect(acks).toHaveBeenCalledTimes(1), 40_000);
    expect(server.messages('alpha').map((m) => m.text)).toEqual(['patient']);
    expect(failed).not.toHaveBeenCalled();
  }, 60_000);

  it('keeps a room whose join is refused as home_unavailable past the request\'s own retries, and joins it once the home is back', async () => {
    server.room('alpha');
    server.homeDown.add('alpha');
    const h = harness(server, 'alice', { random: () => 0 });
    clients.push(h);
    const joinfailed = vi.fn();
    h.socket.on('joinfailed', joinfailed);
    h.socket.start();
    await waitFor(() => expect(h.socket.state).toBe('online'));
    const joined = h.socket.join('alpha');
    const joins = () => server.log.filter((l) => l.action.action === 'joinroom' && l.action.room === 'alpha').length;
    // One request and its 5 retries, then the room asks again on its own.
    await waitFor(() => expect(joins()).toBeGreaterThanOrEqual(7));
    expect(joinfailed).not.toHaveBeenCalled();
    expect(h.socket.followedRooms()).toContain('alpha');
    server.homeDown.delete('alpha');
    await expect(joined).resolves.toMatchObject({ room: expect.objectContaining({ id: 'alpha' }) });
    expect(joinfailed).not.toHaveBeenCalled();
  });

  it('keeps every followed room when the sync is refused as home_unavailable, and syncs again', async () => {
    server.room('beta', 'beta', false, ['alice']);
    server.post('beta', 'bob', 'one');
    server.refuseSyncs = 7;
    const h = harness(server, 'alice', { random: () => 0 });
    clients.push(h);
    const removed = vi.fn();
    h.socket.on('roomremoved', removed);
    h.socket.on('joinfailed', removed);
    h.socket.start(['lobby', 'beta']);
    await waitFor(() => expect(h.seqs('beta')).toEqual([1]));
    // The whole run of refusals was sat out: the sync was asked again after the request gave up.
    expect(server.log.filter((l) => l.action.action === 'sync').length).toBeGreaterThanOrEqual(8);
    expect(removed).not.toHaveBeenCalled();
    expect(h.socket.followedRooms()).toEqual(['lobby', 'beta']);
  });

  it('shows the message as waiting, not failed, and as sent once the home is back', async () => {
    server.room('alpha', 'alpha', false, ['alice']);
    server.homeDown.add('alpha');
    const socket = new ChatSocket({
      getUrl: () => Promise.resolve(`${server.url}/?token=alice`),
      createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
      backoff: { baseMs: 10, maxMs: 50 },
      random: () => 0,
    });
    const store = new ChatStore(socket, { id: 'u-alice', name: 'alice' }, { storage: new MemoryStorage() });
    cleanups.push(() => store.dispose());
    store.start();
    store.select('alpha');
    await waitFor(() => expect(store.getSnapshot().rooms.alpha?.loaded).toBe(true));
    store.send('patient');
    const room = () => store.getSnapshot().rooms.alpha!;
    await waitFor(() => expect(room().pending).toMatchObject([{ text: 'patient', status: 'waiting', error: { code: 'home_unavailable' } }]));
    // Written while the first waits: it waits too, and nothing is shown as an error.
    store.send('behind it');
    expect(room().pending.map((p) => p.status)).toEqual(['waiting', 'waiting']);
    expect(room().error).toBeUndefined();
    server.homeDown.delete('alpha');
    await waitFor(() => expect(room().pending).toEqual([]), 10_000);
    expect(room().messages.map((m) => m.text)).toEqual(['patient', 'behind it']);
    expect(server.messages('alpha').map((m) => m.text)).toEqual(['patient', 'behind it']);
  }, 20_000);
});
