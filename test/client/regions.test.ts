import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RegionEndpoint } from '../../amplify/regions/list';
import { appConfigFrom, readOutputs } from '../../src/config';
import { REGION_STORAGE_KEY, RegionRouter, trialOpen, websocketProbe, type RegionRouterOptions } from '../../src/realtime/regions';
import fixture from '../../src/outputs.fixture.json';
import { script } from './support/scriptedSocket';

class MemoryStorage {
  data = new Map<string, string>();
  getItem = (k: string) => this.data.get(k) ?? null;
  setItem = (k: string, v: string) => void this.data.set(k, v);
}

const US = { region: 'us-east-1', websocketUrl: 'wss://us.example/production' };
const EU = { region: 'eu-west-1', websocketUrl: 'wss://eu.example/production' };
const AP = { region: 'ap-southeast-2', websocketUrl: 'wss://ap.example/production' };
const REGIONS: RegionEndpoint[] = [US, EU, AP];

/**
 * A probe answering each endpoint after a fixed delay on the fake clock (a
 * list: one delay per successive probe; `null` never answers), counting calls.
 */
function fakeProbe(delays: Record<string, (number | null)[] | number | null>) {
  const calls: string[] = [];
  const probe = (url: string) => {
    calls.push(url);
    const spec = delays[url];
    const list = Array.isArray(spec) ? spec : [spec ?? null];
    const ms = list[Math.min(calls.filter((c) => c === url).length - 1, list.length - 1)] ?? null;
    return ms === null ? new Promise<number>(() => undefined) : new Promise<number>((r) => setTimeout(() => r(ms), ms));
  };
  return { probe, calls };
}

function router(opts: Partial<RegionRouterOptions> = {}) {
  return new RegionRouter({ regions: REGIONS, storage: new MemoryStorage(), probeTimeoutMs: 500, firstConnectWaitMs: 1_000, ...opts });
}

const saved = (storage: MemoryStorage) => JSON.parse(storage.getItem(REGION_STORAGE_KEY) ?? 'null') as unknown;

describe('config: custom.regions', () => {
  it('exposes every region, primary first, and reads older outputs as one region', () => {
    const regions = [US, EU];
    const withRegions = appConfigFrom(readOutputs({ ...fixture, custom: { ...fixture.custom, regions } }));
    expect(withRegions.regions).toEqual(regions);
    const older = appConfigFrom(readOutputs(fixture));
    expect(older.regions).toEqual([{ region: 'us-east-1', websocketUrl: fixture.custom.websocketUrl }]);
  });

  it('refuses a regions list that could not be routed, saying which field is wrong', () => {
    const bad = (regions: unknown) => () => readOutputs({ ...fixture, custom: { ...fixture.custom, regions } });
    expect(bad([{ region: 'eu-west-1', websocketUrl: 'https://eu.example' }])).toThrow(/custom\.regions\.0\.websocketUrl: websocketUrl must be a ws/);
    expect(bad([])).toThrow(/at least one region/);
    expect(bad([US, US])).toThrow(/not list a region twice/);
    expect(bad([{ websocketUrl: US.websocketUrl }])).toThrow(/custom\.regions\.0\.region/);
  });
});

describe('RegionRouter, on fake timers', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('picks the region with the lowest round trip, the best of a few probes each', async () => {
    // EU's first probe is slow (a cold DNS lookup, say), its best is the lowest of all.
    const { probe, calls } = fakeProbe({ [US.websocketUrl]: 80, [EU.websocketUrl]: [300, 40, 45], [AP.websocketUrl]: 200 });
    const r = router({ probe });
    const endpoint = r.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await endpoint).toEqual(EU);
    expect(calls.filter((c) => c === EU.websocketUrl)).toHaveLength(3);
    expect(r.getStatus()).toMatchObject({ current: 'eu-west-1', nearest: 'eu-west-1', preference: undefined, failedOver: false });
  });

  it('does not hold the first connect for probes that never answer: it goes with the best heard by firstConnectWaitMs, else the primary', async () => {
    const silent = fakeProbe({});
    const r = router({ probe: silent.probe, probeTimeoutMs: 60_000 });
    let chosen: RegionEndpoint | undefined;
    void r.resolve().then((e) => (chosen = e));
    await vi.advanceTimersByTimeAsync(999);
    expect(chosen).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(chosen).toEqual(US);

    // One region answers in time, the rest stay silent: the one heard from wins.
    const partial = fakeProbe({ [AP.websocketUrl]: 700 });
    const r2 = router({ probe: partial.probe, probeTimeoutMs: 60_000 });
    const second = r2.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await second).toEqual(AP);
  });

  it('remembers the measured choice in localStorage for its time-to-live, then measures again', async () => {
    const storage = new MemoryStorage();
    let now = 1_000_000;
    const first = fakeProbe({ [US.websocketUrl]: 90, [EU.websocketUrl]: 30, [AP.websocketUrl]: 200 });
    const r = router({ probe: first.probe, storage, now: () => now, choiceTtlMs: 60_000 });
    const e = r.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await e).toEqual(EU);
    expect(saved(storage)).toEqual({ measured: { ranking: ['eu-west-1', 'us-east-1', 'ap-southeast-2'], at: now } });

    // A reload within the TTL: no probes, straight to the remembered nearest.
    const again = fakeProbe({ [US.websocketUrl]: 10 });
    const r2 = router({ probe: again.probe, storage, now: () => now, choiceTtlMs: 60_000 });
    expect(await r2.resolve()).toEqual(EU);
    expect(again.calls).toEqual([]);

    // Past the TTL the endpoints are measured again, and the new nearest is used.
    now += 60_000;
    const r3 = router({ probe: again.probe, storage, now: () => now, choiceTtlMs: 60_000 });
    const e3 = r3.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await e3).toEqual(US);
    expect(again.calls.length).toBeGreaterThan(0);
  });

  it('lets the user pin a region, remembered across reloads, and go back to automatic', async () => {
    const storage = new MemoryStorage();
    const { probe } = fakeProbe({ [US.websocketUrl]: 90, [EU.websocketUrl]: 30, [AP.websocketUrl]: 200 });
    const r = router({ probe, storage });
    const moves: unknown[] = [];
    r.on('move', (m) => moves.push(m));
    const e = r.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await e).toEqual(EU);

    r.setPreference('ap-southeast-2');
    expect(moves).toEqual([{ to: 'ap-southeast-2', reason: 'preference' }]);
    expect(await r.resolve()).toEqual(AP);
    expect(r.getStatus()).toMatchObject({ preference: 'ap-southeast-2', preferred: 'ap-southeast-2', nearest: 'eu-west-1', current: 'ap-southeast-2' });
    expect(saved(storage)).toMatchObject({ preference: 'ap-southeast-2' });

    // A reload keeps the pin.
    const reloaded = router({ probe, storage });
    expect(await reloaded.resolve()).toEqual(AP);

    r.setPreference(undefined);
    expect(moves.at(-1)).toEqual({ to: 'eu-west-1', reason: 'preference' });
    expect(await r.resolve()).toEqual(EU);
    expect(saved(storage)).not.toHaveProperty('preference');
    expect(() => r.setPreference('mars-1')).toThrow(/Unknown region/);
  });

  it('fails over after N consecutive failed attempts, not before, and only for failures that were the region\'s', async () => {
    const { probe } = fakeProbe({ [US.websocketUrl]: 90, [EU.websocketUrl]: 30, [AP.websocketUrl]: 200 });
    const r = router({ probe, failoverAfter: 3 });
    const e = r.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await e).toEqual(EU);
    // A socket that opened and later dropped, and closes the client chose, count for nothing.
    r.opened();
    r.closed(1006, true);
    r.closed(4000, false);
    r.closed(1000, false);
    r.closed(4005, false);
    r.closed(4002, false);
    r.closed(1006, false);
    expect(await r.resolve()).toEqual(EU);
    r.closed(1006, false);
    // The third failure in a row: the next attempt goes to the next best.
    expect(await r.resolve()).toEqual(US);
    expect(r.getStatus()).toMatchObject({ current: 'us-east-1', preferred: 'eu-west-1', failedOver: true, down: ['eu-west-1'] });
    // A success in between resets the count.
    r.closed(1006, false);
    r.closed(1006, false);
    r.opened();
    r.closed(1006, true);
    r.closed(1006, false);
    expect(await r.resolve()).toEqual(US);
    // Every region down: start over from the best rather than stop trying.
    for (let i = 0; i < 5; i++) r.closed(1006, false);
    expect(await r.resolve()).toEqual(AP);
    for (let i = 0; i < 3; i++) r.closed(1006, false);
    expect(await r.resolve()).toEqual(EU);
  });

  it('rechecks periodically while failed over and moves back only once the preferred region is healthy', async () => {
    const { probe } = fakeProbe({ [US.websocketUrl]: 90, [EU.websocketUrl]: 30, [AP.websocketUrl]: 200 });
    let euHealthy = false;
    const checks: string[] = [];
    const r = router({
      probe,
      failoverAfter: 2,
      recheckMs: 10_000,
      check: (endpoint) => {
        checks.push(endpoint.region);
        return Promise.resolve(endpoint.region !== 'eu-west-1' || euHealthy);
      },
    });
    const moves: unknown[] = [];
    r.on('move', (m) => moves.push(m));
    r.start();
    const e = r.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await e).toEqual(EU);
    r.closed(1006, false);
    r.closed(1006, false);
    expect(await r.resolve()).toEqual(US);
    r.opened();

    await vi.advanceTimersByTimeAsync(10_000);
    expect(checks).toEqual(['eu-west-1']);
    expect(moves).toEqual([]);
    expect(await r.resolve()).toEqual(US);

    euHealthy = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(checks).toEqual(['eu-west-1', 'eu-west-1']);
    expect(moves).toEqual([{ to: 'eu-west-1', reason: 'recovered' }]);
    expect(await r.resolve()).toEqual(EU);
    expect(r.getStatus()).toMatchObject({ failedOver: false, down: [] });

    // Not failed over: the recheck checks nothing.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(checks).toHaveLength(2);
    r.stop();
  });

  it('a recheck that never answers counts as unhealthy and does not block later ones', async () => {
    const { probe } = fakeProbe({ [US.websocketUrl]: 90, [EU.websocketUrl]: 30 });
    let calls = 0;
    const r = router({
      regions: [US, EU],
      probe,
      failoverAfter: 1,
      recheckMs: 5_000,
      checkTimeoutMs: 1_000,
      check: () => (++calls === 1 ? new Promise<boolean>(() => undefined) : Promise.resolve(true)),
    });
    const moves: unknown[] = [];
    r.on('move', (m) => moves.push(m));
    r.start();
    const e = r.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await e).toEqual(EU);
    r.closed(1006, false);
    expect(await r.resolve()).toEqual(US);
    await vi.advanceTimersByTimeAsync(5_000 + 1_000);
    expect(moves).toEqual([]);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(calls).toBe(2);
    expect(moves).toEqual([{ to: 'eu-west-1', reason: 'recovered' }]);
    r.stop();
  });

  it('with one region, probes nothing and shows nothing to choose', async () => {
    const { probe, calls } = fakeProbe({});
    const r = new RegionRouter({ regions: [US], storage: new MemoryStorage(), probe });
    expect(r.multiRegion).toBe(false);
    expect(await r.resolve()).toEqual(US);
    r.start();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls).toEqual([]);
  });

  it('the WebSocket probe times a refused open, and rejects one that never answers', async () => {
    const refused = script();
    refused.refuse = true;
    const probe = websocketProbe(refused.createSocket);
    const rtt = probe('wss://eu.example/production', 500);
    await vi.advanceTimersByTimeAsync(0);
    await expect(rtt).resolves.toBeGreaterThanOrEqual(0);
    expect(refused.sockets[0]?.url).toBe('wss://eu.example/production');

    // A socket factory whose sockets never open nor close: the link is black-holed.
    const silent = websocketProbe(() => ({ readyState: 0, onopen: null, onclose: null, onmessage: null, onerror: null, send: () => undefined, close: () => undefined }));
    const never = silent('wss://us.example/production', 500);
    const settled = vi.fn();
    never.catch(settled);
    await vi.advanceTimersByTimeAsync(499);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(never).rejects.toThrow(/No answer/);
  });

  it('a trial open is healthy only when the socket opens, and is closed at once', async () => {
    const serving = script();
    const healthy = trialOpen('wss://eu.example/production?token=t', 500, serving.createSocket);
    await vi.advanceTimersByTimeAsync(0);
    await expect(healthy).resolves.toBe(true);
    expect(serving.sockets[0]?.readyState).toBe(3);

    const refusing = script();
    refusing.refuse = true;
    const refused = trialOpen('wss://eu.example/production?token=t', 500, refusing.createSocket);
    await vi.advanceTimersByTimeAsync(0);
    await expect(refused).resolves.toBe(false);

    const silent = trialOpen('wss://eu.example/production?token=t', 500, () => ({ readyState: 0, onopen: null, onclose: null, onmessage: null, onerror: null, send: () => undefined, close: () => undefined }));
    const settled = vi.fn();
    void silent.then(settled);
    await vi.advanceTimersByTimeAsync(499);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toHaveBeenCalledWith(false);
  });
});
