/**
 * `npm start -- --regions 2` in a real browser: the built app against two
 * local regions (local/regions: a gateway process per region, replication
 * between their tables, one cognito-local), driven by Debian's chromium.
 * Two people, each pinned to a region with the Chat region select; a room
 * homed in each region; then the primary goes down and comes back.
 *
 *   npx vitest run e2e/regions.e2e.test.ts
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page, WebSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRegions, twoRegions, type Regions } from '../test/support/regions';
import { CHROMIUM, expectAccessible, expectTexts, openRoom, say, startApp, texts, type E2EApp } from './support/app';

const suffix = Math.random().toString(36).slice(2, 7);
const names = { ana: `ana${suffix}`, ben: `ben${suffix}` };

let regions: Regions;
let app: E2EApp;
let workDir: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'parley-e2e-regions-'));
  const outputsFile = join(workDir, 'outputs.json');
  regions = await twoRegions({ outputsFile });
  app = await startApp(outputsFile, workDir);
}, 180_000);

afterAll(async () => {
  await app?.close();
  await closeRegions(regions);
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const portOf = (url: string) => new URL(url).port;

/** Every WebSocket a page opens, with whether it has heard anything from the server yet. */
function watchSockets(page: Page): { ws: WebSocket; heard: boolean }[] {
  const sockets: { ws: WebSocket; heard: boolean }[] = [];
  page.on('websocket', (ws) => {
    const entry = { ws, heard: false };
    sockets.push(entry);
    ws.on('framereceived', () => (entry.heard = true));
  });
  return sockets;
}

/**
 * Ports of the chat sockets that are open and in use: signed in (a token in
 * the URL, unlike the router's latency probes) and answered by the server.
 */
const chatPorts = (sockets: { ws: WebSocket; heard: boolean }[]) =>
  sockets.filter((s) => !s.ws.isClosed() && s.heard && new URL(s.ws.url()).searchParams.has('token')).map((s) => portOf(s.ws.url()));

const regionLine = (page: Page) => page.locator('.region').getByRole('status');
const regionText = async (page: Page) => ((await regionLine(page).textContent()) ?? '').replace(/\s+/g, ' ').trim();
const waiting = (page: Page) => page.locator('.msg.waiting');

async function goTo(page: Page, room: RegExp | string, heading: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: room }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

describe.skipIf(!existsSync(CHROMIUM))('Parley in two regions, in a browser', () => {
  it('two people pinned to different regions chat in rooms homed in each; the primary goes down and comes back and nothing is lost or doubled', async () => {
    const [A, B] = regions.regions as [Regions['regions'][number], Regions['regions'][number]];
    expect([A.region, B.region]).toEqual(['local-a', 'local-b']);
    expect(regions.outputs.custom.regions?.map((r) => r.region)).toEqual(['local-a', 'local-b']);
    const [portA, portB] = [portOf(A.websocketUrl), portOf(B.websocketUrl)];

    const ana = await app.newUser();
    const ben = await app.newUser();
    const sockets = { ana: watchSockets(ana.page), ben: watchSockets(ben.page) };
    await app.signUp(ana.page, names.ana);
    await app.signUp(ben.page, names.ben);

    // Each picks a region by hand; the choice shows, is kept, and the socket really goes there.
    await ana.page.getByLabel('Chat region').selectOption('local-a');
    await ben.page.getByLabel('Chat region').selectOption('local-b');
    await expect.poll(() => regionText(ana.page), { timeout: 15_000 }).toBe('Connected · local-a');
    await expect.poll(() => regionText(ben.page), { timeout: 15_000 }).toBe('Connected · local-b');
    await expect.poll(() => chatPorts(sockets.ana), { timeout: 10_000 }).toEqual([portA]);
    await expect.poll(() => chatPorts(sockets.ben), { timeout: 10_000 }).toEqual([portB]);
    expect(JSON.parse((await ana.page.evaluate(() => localStorage.getItem('parley:region'))) ?? '{}')).toMatchObject({ preference: 'local-a' });
    expect(JSON.parse((await ben.page.evaluate(() => localStorage.getItem('parley:region'))) ?? '{}')).toMatchObject({ preference: 'local-b' });
    await expectAccessible(ana.page, 'chat with the region select');

    // The lobby is homed in the primary: ben's send from local-b is forwarded there.
    const lobbyTalk = [`hello from local-a ${suffix}`, `hello from local-b ${suffix}`];
    await say(ana.page, lobbyTalk[0]!);
    await expectTexts(ben.page, lobbyTalk.slice(0, 1));
    await say(ben.page, lobbyTalk[1]!);
    await expectTexts(ana.page, lobbyTalk);
    await expectTexts(ben.page, lobbyTalk);

    // A room made in local-b is homed there; ana, in local-a, joins it.
    const room = `bee-${suffix}`;
    await ben.page.getByRole('button', { name: 'Create a room' }).click();
    await ben.page.getByLabel('Room ID').fill(room);
    await ben.page.getByRole('button', { name: 'Create room' }).click();
    await ben.page.getByRole('heading', { level: 1, name: `#${room}` }).waitFor();
    await openRoom(ana.page, room);
    const roomTalk = ['Made in local-b', 'Read in local-a', 'Both ways'];
    await say(ben.page, roomTalk[0]!);
    await expectTexts(ana.page, roomTalk.slice(0, 1));
    await say(ana.page, roomTalk[1]!);
    await expectTexts(ben.page, roomTalk.slice(0, 2));
    await say(ben.page, roomTalk[2]!);
    await expectTexts(ana.page, roomTalk);
    await expectTexts(ben.page, roomTalk);

    // local-a goes down. Ana's app gives up on it and fails over to local-b, saying so.
    await A.stop();
    await expect.poll(() => regionText(ana.page), { timeout: 30_000 }).toBe('Connected · local-b (local-a unreachable)');
    await expect.poll(() => chatPorts(sockets.ana), { timeout: 10_000 }).toEqual([portB]);
    expect(await regionText(ben.page)).toBe('Connected · local-b');
    await expectAccessible(ana.page, 'chat failed over to another region');

    // The room homed in local-b goes on, both ways, with nothing lost or doubled across the move.
    const duringOutage = ['Still here from local-b', 'Still here, failed over'];
    await say(ben.page, duringOutage[0]!);
    await expectTexts(ana.page, [...roomTalk, duringOutage[0]!], 20_000);
    await say(ana.page, duringOutage[1]!);
    await expectTexts(ben.page, [...roomTalk, ...duringOutage]);
    await expectTexts(ana.page, [...roomTalk, ...duringOutage]);

    // The lobby's home is down: ana's sends wait, shown as such, and reach nobody.
    await goTo(ana.page, /^\W*Lobby/, '#Lobby');
    await goTo(ben.page, /^\W*Lobby/, '#Lobby');
    await expectTexts(ana.page, lobbyTalk);
    const held = [`held one ${suffix}`, `held two ${suffix}`];
    for (const m of held) await say(ana.page, m);
    // Refused by the server as home_unavailable: a definite "not stored", not merely "not yet seen".
    await waiting(ana.page).first().getByText(/^Waiting: /).waitFor({ timeout: 15_000 });
    await expectTexts(ana.page, [...lobbyTalk, ...held]);
    expect(await texts(ben.page)).toEqual(lobbyTalk);
    await expectAccessible(ana.page, 'chat with a message waiting for its region');

    // local-a is back: the held messages go by themselves, once each, in order, to both.
    await A.start();
    await expectTexts(ben.page, [...lobbyTalk, ...held], 60_000);
    await expect.poll(() => waiting(ana.page).count(), { timeout: 15_000 }).toBe(0);
    await expectTexts(ana.page, [...lobbyTalk, ...held]);

    // Ana's app notices local-a serves again and moves back to it: her pinned region.
    await expect.poll(() => regionText(ana.page), { timeout: 90_000, interval: 500 }).toBe('Connected · local-a');
    await expect.poll(() => chatPorts(sockets.ana), { timeout: 10_000 }).toEqual([portA]);
    const after = `back in local-a ${suffix}`;
    await say(ana.page, after);
    await expectTexts(ben.page, [...lobbyTalk, ...held, after]);
    await expectTexts(ana.page, [...lobbyTalk, ...held, after]);
    // And the room homed in local-b, seen again from local-a, still holds each message once.
    await goTo(ana.page, new RegExp(`^\\W*${room}`), `#${room}`);
    await expectTexts(ana.page, [...roomTalk, ...duringOutage]);
    for (const u of [ana, ben]) await u.context.close();
  }, 300_000);
});
