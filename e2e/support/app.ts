/**
 * What every browser test needs: the app built against a local stack's
 * outputs and served by `vite preview`, Debian's chromium, people signing up
 * and chatting, and axe-core on each screen.
 */
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { expect } from 'vitest';
import { freePort } from '../../local/process';

export const CHROMIUM = '/usr/bin/chromium';
export const PASSWORD = 'Parley-e2e-1!';

export interface E2EApp {
  baseUrl: string;
  browser: Browser;
  /** A fresh browser profile: its own storage, so its own session. */
  newUser(): Promise<{ context: BrowserContext; page: Page }>;
  /** Signs `name` up through the UI and waits for the lobby; `check` runs axe on the sign-in and sign-up screens. */
  signUp(page: Page, name: string, check?: boolean): Promise<void>;
  signIn(page: Page, name: string): Promise<void>;
  /** Closes the browser and the preview server, and prints axe's non-blocking findings. */
  close(): Promise<void>;
}

/**
 * Builds the app against `outputsFile` into `workDir`/dist, serves it on a
 * free port and launches chromium.
 */
export async function startApp(outputsFile: string, workDir: string): Promise<E2EApp> {
  // The app reads its outputs at build time, exactly as `npm start` runs vite.
  process.env.PARLEY_OUTPUTS = outputsFile;
  const outDir = join(workDir, 'dist');
  // Vitest sets NODE_ENV=test, which would bundle React's development build.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: resolve('vite.config.ts'), mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true, sourcemap: false } });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  const port = await freePort();
  const server: PreviewServer = await preview({
    configFile: resolve('vite.config.ts'),
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port, strictPort: true },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (err) {
    await server.close();
    throw err;
  }

  async function newUser(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    return { context, page };
  }

  async function signUp(page: Page, name: string, check = false): Promise<void> {
    await page.goto(baseUrl);
    await page.getByRole('heading', { level: 1, name: 'Welcome back' }).waitFor();
    if (check) await expectAccessible(page, 'sign-in');
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create your account' }).waitFor();
    if (check) await expectAccessible(page, 'sign-up');
    await page.getByLabel('Email').fill(`${name}@example.com`);
    await page.getByLabel('Chat name').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create my account' }).click();
    // Local mode shows the confirmation code on screen, so nobody needs an inbox.
    await page.getByRole('button', { name: 'Fill it in' }).click();
    await page.getByRole('button', { name: 'Confirm and continue' }).click();
    await page.getByRole('heading', { level: 1, name: '#Lobby' }).waitFor();
  }

  async function signIn(page: Page, name: string): Promise<void> {
    if (page.url() === 'about:blank') await page.goto(baseUrl);
    await page.getByRole('tab', { name: 'Sign in' }).click();
    await page.getByLabel('Email').fill(`${name}@example.com`);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in to Parley' }).click();
    await page.getByRole('heading', { level: 1 }).filter({ hasText: /^#/ }).waitFor();
  }

  return {
    baseUrl,
    browser,
    newUser,
    signUp,
    signIn,
    async close() {
      if (axeReport.length) console.info(`axe findings below "serious":\n${axeReport.splice(0).join('\n')}`);
      await browser.close();
      await server.close();
    },
  };
}

export const composer = (page: Page) => page.getByRole('textbox', { name: /^Message / });
export const texts = (page: Page) => page.locator('.message-scroll .msg-text').allTextContents();

export async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

export async function openRoom(page: Page, name: string): Promise<void> {
  await page.getByRole('button', { name: 'Refresh the room list' }).click();
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: new RegExp(name) }).click();
  await page.getByRole('heading', { level: 1 }).filter({ hasText: name }).waitFor();
}

/** Waits until the room shows exactly these messages, in this order. */
export async function expectTexts(page: Page, expected: string[], timeout = 15_000): Promise<void> {
  await expect.poll(() => texts(page), { timeout, interval: 100 }).toEqual(expected);
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
/** Every screen is checked as it stands; these findings fail the test (axe's "moderate" and "minor" are reported only). */
const BLOCKING = new Set(['serious', 'critical']);
/** Findings below BLOCKING, printed when the app closes. */
const axeReport: string[] = [];

interface AxeResult {
  id: string;
  impact?: string | null;
  help: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

/** Runs axe-core on the page as it is now and fails on any serious or critical finding. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: AxeResult[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
  });
  for (const v of violations) axeReport.push(`${screen}: [${v.impact ?? '?'}] ${v.id} (${v.help}) ×${v.nodes.length}`);
  const blocking = violations.filter((v) => BLOCKING.has(v.impact ?? ''));
  // Soft, so one run lists the findings of every screen.
  expect.soft(
    blocking.map((v) => `${v.id}: ${v.help}\n${v.nodes.map((n) => `  ${JSON.stringify(n.target)} ${n.failureSummary ?? ''}`).join('\n')}`),
    `axe on the ${screen} screen`,
  ).toEqual([]);
}
