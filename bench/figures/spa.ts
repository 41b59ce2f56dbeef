/**
 * Figure 6: the JavaScript a first visit downloads, gzip: the entry chunk
 * and everything it imports statically, as vite.config.ts's budget counts
 * it. Read from dist/ when that build is newer than the sources, otherwise
 * built fresh into a temporary folder; "n/a" if the build fails (the app is
 * being worked on concurrently).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { progress } from '../env';
import type { Figure, Row } from '../report';
import { round } from '../stats';

const run = promisify(execFile);
const BUDGET_KIB = 150;

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newestMtime(join(path, name))), st.mtimeMs);
}

const gzipKiB = (file: string) => gzipSync(readFileSync(file), { level: 9 }).byteLength / 1024;

/** Static imports only: `import … from "./x.js"`, `import "./x.js"`, `export … from "./x.js"`; never `import("./x.js")`. */
const STATIC_IMPORT = /\b(?:import\s*(?:[^"'()]*?\bfrom\s*)?|export\s*(?:\*|\{[^}]*\})\s*from\s*)["'](\.{1,2}\/[^"']+\.js)["']/g;

interface Analysis {
  initial: { file: string; kib: number }[];
  lazyKiB: number;
  cssKiB: number;
}

function analyze(dir: string): Analysis {
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"|<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map((m) => m[1] ?? m[2]!);
  const seen = new Set<string>();
  const queue = refs.map((r) => join(dir, r.replace(/^\//, '')));
  while (queue.length && seen.size < 500) {
    const file = queue.shift()!;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) queue.push(resolve(dirname(file), m[1]!));
  }
  const assets = join(dir, 'assets');
  const all = existsSync(assets) ? readdirSync(assets).map((f) => join(assets, f)) : [];
  const css = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)].map((m) => join(dir, m[1]!.replace(/^\//, '')));
  return {
    initial: [...seen].map((file) => ({ file: file.slice(dir.length + 1), kib: round(gzipKiB(file), 1) })),
    lazyKiB: round(all.filter((f) => f.endsWith('.js') && !seen.has(f)).reduce((s, f) => s + gzipKiB(f), 0), 1),
    cssKiB: round(css.filter(existsSync).reduce((s, f) => s + gzipKiB(f), 0), 1),
  };
}

export async function spaFigure(): Promise<Figure> {
  const dist = resolve('dist');
  const sources = ['src', 'index.html', 'vite.config.ts'].map((p) => resolve(p)).filter(existsSync);
  const fresh = existsSync(join(dist, 'index.html')) && statSync(join(dist, 'index.html')).mtimeMs >= Math.max(...sources.map(newestMtime));
  let dir = dist;
  let source = 'dist/ (newer than the sources)';
  let tmp: string | undefined;
  const base: Omit<Figure, 'rows' | 'notes' | 'method'> = { id: 6, title: "The app's initial JavaScript, gzip" };
  const method = `The entry chunk named by index.html and every chunk it imports statically, each gzipped at level 9 (as vite.config.ts's budget counts); lazy chunks counted apart. The tutorial has no web app (it uses wscat), so there is no baseline.`;
  try {
    if (!fresh) {
      tmp = mkdtempSync(join(tmpdir(), 'parley-bench-spa-'));
      progress('  dist/ is missing or older than src/: running vite build into a temporary folder');
      try {
        await run(process.execPath, [resolve('node_modules/vite/bin/vite.js'), 'build', '--outDir', tmp, '--emptyOutDir', '--logLevel', 'error'], {
          timeout: 180_000,
          maxBuffer: 16 * 1024 * 1024,
        });
      } catch (err) {
        const reason = String((err as { stderr?: string }).stderr || err).trim().split('\n').slice(0, 3).join(' ');
        return {
          ...base,
          method,
          rows: [{ metric: 'initial JS, gzip', unit: 'KiB', parley: null, baseline: null, better: 'lower', goal: { text: `≤ ${BUDGET_KIB} KiB`, met: null } }],
          notes: [`n/a: vite build failed (${reason.slice(0, 300)})`],
        };
      }
      dir = tmp;
      source = 'a fresh vite build';
    }
    const a = analyze(dir);
    const initial = round(a.initial.reduce((s, c) => s + c.kib, 0), 1);
    const rows: Row[] = [
      { metric: 'initial JS, gzip', unit: 'KiB', parley: a.initial.length ? initial : null, baseline: null, better: 'lower', goal: { text: `≤ ${BUDGET_KIB} KiB, the vite.config.ts budget`, met: a.initial.length ? initial <= BUDGET_KIB : null } },
      { metric: 'lazy JS chunks, gzip', unit: 'KiB', parley: a.lazyKiB, baseline: null, better: 'lower' },
      { metric: 'initial CSS, gzip', unit: 'KiB', parley: a.cssKiB, baseline: null, better: 'lower' },
    ];
    return { ...base, method, rows, notes: [`From ${source}. Initial chunks: ${a.initial.map((c) => `${c.file} ${c.kib} KiB`).join(', ') || 'none found'}.`] };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
