/**
 * The whole product in a real browser: the built app (served by `vite
 * preview`) against the local stack (gateway running the real Lambda
 * handlers, DynamoDB Local, cognito-local), driven by Debian's chromium.
 *
 *   npx vitest run e2e
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startStack, type LocalStack } from '../local/stack';
import { CHROMIUM, composer, expectAccessible, expectTexts, openRoom, say, startApp, type E2EApp } from './support/app';

const suffix = Math.random().toString(36).slice(2, 7);
const names = { alice: `alice${suffix}`, bob: `bob${suffix}`, carol: `carol${suffix}`, dana: `dana${suffix}`, eli: `eli${suffix}` };

let stack: LocalStack;
let app: E2EApp;
let workDir: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'parley-e2e-'));
  const outputsFile = join(workDir, 'outputs.json');
  stack = await startStack({ dynamoEndpoint: inject('dynamoEndpoint'), cognito: inject('cognito'), outputsFile });
  app = await startApp(outputsFile, workDir);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await stack?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const newUser = () => app.newUser();
const signUp = (page: Page, name: string, check = false) => app.signUp(page, name, check);
const signIn = (page: Page, name: string) => app.signIn(page, name);

/** What the app keeps for the signed-in user (followed rooms, the open one): `parley:<user id>` in localStorage. */
async function savedRooms(page: Page): Promise<{ key: string; rooms: string[]; current?: string }> {
  return page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('parley:'));
    if (!key) throw new Error('no saved rooms');
    const saved = JSON.parse(localStorage.getItem(key) ?? '{}') as { rooms?: string[]; current?: string };
    return { key, rooms: saved.rooms ?? [], current: saved.current };
  });
}

describe.skipIf(!existsSync(CHROMIUM))('Parley in a browser', () => {
  it('two people chat, see each other, survive a dropped socket; private rooms stay private', async () => {
    const a = await newUser();
    const b = await newUser();
    await signUp(a.page, names.alice, true);
    await signUp(b.page, names.bob);

    // Sign out and back in, the way a returning user does.
    await a.page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(a.page, names.alice);

    // A public room: alice creates it, bob finds it and joins.
    const room = `talk-${suffix}`;
    await a.page.getByRole('button', { name: 'Create a room' }).click();
    await a.page.getByLabel('Room ID').fill(room);
    await expectAccessible(a.page, 'create-room dialog');
    await a.page.getByRole('button', { name: 'Create room' }).click();
    await a.page.getByRole('heading', { level: 1, name: `#${room}` }).waitFor();
    // Focus lands where you will type next, not back on "+".
    await expect.poll(() => a.page.evaluate(() => document.activeElement?.getAttribute('placeholder'))).toBe(`Message #${room}`);
    await openRoom(b.page, room);

    // Presence: each sees the other here.
    const here = (page: Page) => page.getByRole('complementary').getByRole('listitem');
    await expect.poll(() => here(a.page).allTextContents(), { timeout: 10_000 }).toEqual(expect.arrayContaining([expect.stringContaining(names.bob)]));
    await expect.poll(() => here(b.page).allTextContents(), { timeout: 10_000 }).toEqual(expect.arrayContaining([expect.stringContaining(names.alice)]));

    // Messages both ways.
    await say(a.page, 'Hi Bob, welcome to the room');
    await expectTexts(b.page, ['Hi Bob, welcome to the room']);
    await say(b.page, 'Thanks Alice! Glad to be here.');
    await expectTexts(a.page, ['Hi Bob, welcome to the room', 'Thanks Alice! Glad to be here.']);
    await expectAccessible(a.page, 'chat');

    // Typing shows on the other side, then fades.
    await composer(b.page).pressSequentially('writing', { delay: 20 });
    await a.page.getByText(`${names.bob} is typing…`).waitFor({ timeout: 10_000 });
    await a.page.getByText(`${names.bob} is typing…`).waitFor({ state: 'hidden', timeout: 10_000 });
    await composer(b.page).fill('');

    // Bob's network goes away and the server drops his socket.
    await b.context.setOffline(true);
    for (const c of stack.gateway.listConnections()) if (c.authorizer.userName === names.bob) stack.gateway.dropConnection(c.connectionId);
    await b.page.getByText(/You are offline/).waitFor({ timeout: 10_000 });
    await expectAccessible(b.page, 'reconnecting banner');
    const missed = ['one while you were away', 'two while you were away', 'three while you were away'];
    for (const m of missed) await say(a.page, m);
    await say(b.page, 'queued while offline');
    await expectTexts(a.page, ['Hi Bob, welcome to the room', 'Thanks Alice! Glad to be here.', ...missed]);

    // Back online: he gets every message exactly once, in order, and his queued one goes out.
    await b.context.setOffline(false);
    const all = ['Hi Bob, welcome to the room', 'Thanks Alice! Glad to be here.', ...missed, 'queued while offline'];
    await expectTexts(b.page, all, 20_000);
    await expectTexts(a.page, all);
    await expect.poll(() => b.page.getByRole('status').filter({ hasText: /offline|Reconnecting/ }).count()).toBe(0);

    // A private room: named by alice, its id made by the server. Bob is invited and can see it; carol cannot.
    const secret = `Secret ${suffix}`;
    await a.page.getByRole('button', { name: 'Create a room' }).click();
    await a.page.getByRole('dialog', { name: 'Create a room' }).getByLabel('Name', { exact: true }).fill(secret);
    await a.page.getByLabel(/Private/).check();
    expect(await a.page.getByLabel('Room ID').count()).toBe(0);
    await a.page.getByLabel('Invite people').fill(names.bob);
    await a.page.getByRole('button', { name: 'Create room' }).click();
    await a.page.getByRole('heading', { level: 1, name: secret }).waitFor();
    // The app opened the room by the id in the server's reply: a valid room id, not one made from the name.
    const secretId = (await savedRooms(a.page)).current!;
    expect(secretId).toMatch(/^[a-z0-9][a-z0-9_-]{0,31}$/);
    expect(secretId).not.toContain(suffix);
    await say(a.page, 'Just between us');
    await openRoom(b.page, secret);
    await expectTexts(b.page, ['Just between us']);
    expect((await savedRooms(b.page)).current).toBe(secretId);

    const c = await newUser();
    await signUp(c.page, names.carol);
    await c.page.getByRole('button', { name: 'Refresh the room list' }).click();
    const nav = c.page.getByRole('navigation', { name: 'Rooms' });
    await nav.getByRole('button', { name: new RegExp(room) }).waitFor();
    expect(await nav.getByRole('button', { name: new RegExp(secret) }).count()).toBe(0);
    // Even holding the server's id, carol gets nothing: her app opens it from storage after a reload,
    // and the server's list of her rooms, which does not have it, sends her back to the lobby.
    const saved = await savedRooms(c.page);
    await c.page.evaluate(({ key, rooms, id }) => localStorage.setItem(key, JSON.stringify({ rooms: [...rooms, id], current: id })), {
      key: saved.key,
      rooms: saved.rooms,
      id: secretId,
    });
    await c.page.reload();
    await c.page.getByRole('heading', { level: 1, name: '#Lobby' }).waitFor({ timeout: 15_000 });
    expect(await nav.getByRole('button', { name: new RegExp(secretId) }).count()).toBe(0);
    expect(await c.page.getByText('Just between us').count()).toBe(0);
    await c.context.close();

    // Screenshots for the docs: desktop, then a 360 px phone.
    for (const p of [a.page, b.page]) await p.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: new RegExp(room) }).click();
    await composer(b.page).pressSequentially('typing…', { delay: 20 });
    await a.page.getByText(`${names.bob} is typing…`).waitFor();
    mkdirSync(resolve('docs'), { recursive: true });
    await a.page.screenshot({ path: resolve('docs/screenshot.png') });
    await a.page.setViewportSize({ width: 360, height: 740 });
    await a.page.getByRole('button', { name: 'Close the people list' }).click();
    // The sidebar slides off-canvas at this width; shoot once the transition has settled.
    await a.page.waitForFunction(() => document.getAnimations().length === 0);
    await a.page.screenshot({ path: resolve('docs/screenshot-mobile.png') });
    await expectAccessible(a.page, 'phone layout');

    // Right-to-left text reads right to left, each message by its own script.
    await say(b.page, 'مرحبا بالجميع');
    const arabic = a.page.locator('.msg-text', { hasText: 'مرحبا بالجميع' });
    await arabic.waitFor();
    expect(await arabic.evaluate((el) => el.matches(':dir(rtl)'))).toBe(true);
    expect(await a.page.locator('.msg-text', { hasText: 'Hi Bob' }).evaluate((el) => el.matches(':dir(ltr)'))).toBe(true);
  }, 180_000);
  it('two people with two devices each: rooms and read state follow the account; DMs, edits and deletes, live and after a reload', async () => {
    const dana = { laptop: await newUser(), phone: await newUser() };
    const eli = { laptop: await newUser(), phone: await newUser() };
    await signUp(dana.laptop.page, names.dana);
    await signUp(eli.laptop.page, names.eli);
    // The second device is a fresh browser profile: nothing of the first one's storage.
    await signIn(dana.phone.page, names.dana);
    await signIn(eli.phone.page, names.eli);
    const section = (page: Page, name: string) => page.getByRole('navigation', { name: 'Rooms' }).getByRole('region', { name });
    const link = (page: Page, where: string, name: string | RegExp) =>
      section(page, where).getByRole('button', { name: typeof name === 'string' ? new RegExp(`^\\W*${name}`) : name });
    const unreadLinks = (page: Page) => page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /unread/ });

    // A new public room reaches everyone at once, with nobody pressing refresh.
    const room = `plans-${suffix}`;
    await dana.laptop.page.getByRole('button', { name: 'Create a room' }).click();
    await dana.laptop.page.getByLabel('Room ID').fill(room);
    await dana.laptop.page.getByRole('button', { name: 'Create room' }).click();
    await dana.laptop.page.getByRole('heading', { level: 1, name: `#${room}` }).waitFor();
    await link(eli.laptop.page, 'More rooms', room).waitFor({ timeout: 10_000 });
    await link(eli.phone.page, 'More rooms', room).waitFor({ timeout: 10_000 });
    // It is dana's room on every device: her phone lists it as hers, not as one to join.
    await link(dana.phone.page, 'Your rooms', room).waitFor({ timeout: 10_000 });
    expect(await link(dana.phone.page, 'More rooms', room).count()).toBe(0);

    // Eli joins on his laptop; his phone follows at once. Then he looks at the lobby on both.
    await link(eli.laptop.page, 'More rooms', room).click();
    await eli.laptop.page.getByRole('heading', { level: 1, name: `#${room}` }).waitFor();
    await link(eli.phone.page, 'Your rooms', room).waitFor({ timeout: 10_000 });
    await link(eli.laptop.page, 'Your rooms', 'Lobby').click();
    await eli.laptop.page.getByRole('heading', { level: 1, name: '#Lobby' }).waitFor();

    // Three messages while eli looks elsewhere: both of his devices count the same three.
    const plans = ['Dinner on Friday?', 'Somewhere near the station', 'Say by Thursday'];
    for (const m of plans) await say(dana.laptop.page, m);
    for (const p of [eli.laptop.page, eli.phone.page]) await link(p, 'Your rooms', new RegExp(`${room}\\s*, 3 unread`)).waitFor({ timeout: 10_000 });

    // Reading on the phone clears the laptop's count; the phone opens at a "New messages" divider.
    await link(eli.phone.page, 'Your rooms', new RegExp(room)).click();
    await expectTexts(eli.phone.page, plans);
    await eli.phone.page.getByRole('separator', { name: 'New messages' }).waitFor();
    await expect.poll(() => unreadLinks(eli.laptop.page).count(), { timeout: 10_000 }).toBe(0);
    expect(await unreadLinks(eli.phone.page).count()).toBe(0);
    await expectAccessible(eli.phone.page, 'chat with a New messages divider');

    // A direct message: dana starts it by eli's name.
    await dana.laptop.page.getByRole('button', { name: 'Start a direct message' }).click();
    const dialog = dana.laptop.page.getByRole('dialog', { name: 'Start a direct message' });
    await dialog.getByLabel('Their chat name').fill(`nobody${suffix}`);
    await dialog.getByRole('button', { name: 'Open conversation' }).click();
    await dialog.getByRole('alert').filter({ hasText: `Nobody here is called “nobody${suffix}”.` }).waitFor();
    await expectAccessible(dana.laptop.page, 'direct-message dialog');
    await dialog.getByLabel('Their chat name').fill(names.eli);
    await dialog.getByRole('button', { name: 'Open conversation' }).click();
    await dana.laptop.page.getByRole('heading', { level: 1, name: names.eli }).waitFor();
    await say(dana.laptop.page, 'psst, a secret');
    await say(dana.laptop.page, 'see you at the statoin');
    // It reaches all four screens under Direct messages, with nobody asking.
    await link(dana.phone.page, 'Direct messages', names.eli).waitFor({ timeout: 10_000 });
    for (const p of [eli.laptop.page, eli.phone.page]) await link(p, 'Direct messages', new RegExp(`${names.dana}\\s*, 2 unread`)).waitFor({ timeout: 10_000 });
    expect(await link(eli.laptop.page, 'More rooms', names.dana).count()).toBe(0);
    await link(eli.phone.page, 'Direct messages', names.dana).click();
    await eli.phone.page.getByRole('heading', { level: 1, name: names.dana }).waitFor();
    await expectTexts(eli.phone.page, ['psst, a secret', 'see you at the statoin']);

    // Dana fixes one message and deletes the other on her laptop; eli's phone sees both live.
    const message = (page: Page, text: string) => page.locator('.msg', { has: page.locator('.msg-text', { hasText: text }) });
    await message(dana.laptop.page, 'see you at the statoin').getByRole('button', { name: 'Edit message' }).click();
    const editor = dana.laptop.page.getByRole('textbox', { name: 'Edit message' });
    await editor.fill('see you at the station');
    await editor.press('Enter');
    await message(dana.laptop.page, 'psst, a secret').getByRole('button', { name: 'Delete message' }).click();
    await dana.laptop.page.getByRole('group', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete', exact: true }).click();
    const after = ['This message was deleted.', 'see you at the station'];
    await expectTexts(eli.phone.page, after);
    await message(eli.phone.page, 'see you at the station').locator('.msg-edited').waitFor();
    // Only your own messages have the actions.
    expect(await eli.phone.page.getByRole('button', { name: 'Edit message' }).count()).toBe(0);
    await expectAccessible(eli.phone.page, 'direct messages with an edit and a tombstone');

    // After a reload, history tells the same story, and the rooms are still his.
    await eli.laptop.page.reload();
    await link(eli.laptop.page, 'Direct messages', names.dana).click();
    await expectTexts(eli.laptop.page, after);
    await message(eli.laptop.page, 'see you at the station').locator('.msg-edited').waitFor();
    await link(eli.laptop.page, 'Your rooms', room).waitFor();
    expect(await unreadLinks(eli.laptop.page).count()).toBe(0);
    // News elsewhere while he reads the DM: counted on the reloaded laptop too.
    await link(dana.laptop.page, 'Your rooms', room).click();
    await say(dana.laptop.page, 'Booked for 8!');
    await link(eli.laptop.page, 'Your rooms', new RegExp(`${room}\\s*, 1 unread`)).waitFor({ timeout: 10_000 });

    mkdirSync(resolve('docs'), { recursive: true });
    await eli.laptop.page.screenshot({ path: resolve('docs/screenshot-dm.png') });
    for (const d of [dana, eli]) for (const device of [d.laptop, d.phone]) await device.context.close();
  }, 180_000);
});
