import { gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';
import { DEFAULT_PORTS } from './local/ports';
import { outputsFile } from './scripts/outputs-file';

const INITIAL_JS_BUDGET_GZIP = 150 * 1024;

/**
 * Fails the build when the JS a first visit must download (the entry chunk
 * and everything it imports statically) exceeds the gzip budget. Lazy
 * chunks do not count: they load only when a screen needs them.
 */
function initialJsBudget(limit = INITIAL_JS_BUDGET_GZIP): Plugin {
  return {
    name: 'parley-initial-js-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      const chunks = Object.values(bundle).flatMap((c) => (c.type === 'chunk' ? [c] : []));
      const byName = new Map(chunks.map((c) => [c.fileName, c]));
      const initial = new Set<string>();
      const visit = (file: string) => {
        if (initial.has(file)) return;
        initial.add(file);
        for (const dep of byName.get(file)?.imports ?? []) visit(dep);
      };
      for (const c of chunks) if (c.isEntry) visit(c.fileName);
      let total = 0;
      const lines: string[] = [];
      for (const file of initial) {
        const size = gzipSync(byName.get(file)!.code, { level: 9 }).byteLength;
        total += size;
        lines.push(`  ${file.padEnd(48)} ${(size / 1024).toFixed(1).padStart(7)} KiB gzip`);
      }
      const lazy = chunks.filter((c) => !initial.has(c.fileName));
      for (const c of lazy) lines.push(`  ${`(lazy) ${c.fileName}`.padEnd(48)} ${(gzipSync(c.code, { level: 9 }).byteLength / 1024).toFixed(1).padStart(7)} KiB gzip`);
      const summary = `Initial JS: ${(total / 1024).toFixed(1)} KiB gzip of a ${(limit / 1024).toFixed(0)} KiB budget`;
      this.info(`\n${lines.join('\n')}\n${summary}`);
      if (total > limit) this.error(`${summary}: over budget`);
    },
  };
}

export default defineConfig({
  plugins: [react(), initialJsBudget()],
  resolve: {
    alias: { 'virtual:parley-outputs': outputsFile() },
  },
  server: { host: '127.0.0.1', port: DEFAULT_PORTS.app, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: { target: 'es2022', sourcemap: true },
});
