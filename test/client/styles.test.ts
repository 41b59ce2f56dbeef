import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { contrastRatio } from '../../src/chat/format';

const css = readFileSync(resolve('src/styles.css'), 'utf8');

/** The custom properties of the first `:root` block after `from` (the light scheme, then the dark one). */
function variables(from: number): Record<string, string> {
  const start = css.indexOf(':root', from);
  const block = css.slice(css.indexOf('{', start) + 1, css.indexOf('}', start));
  return Object.fromEntries([...block.matchAll(/(--[\w-]+):\s*(#[0-9a-f]{6})\s*;/gi)].map((m) => [m[1]!, m[2]!]));
}

const rule = (selector: string) => {
  const at = css.indexOf(`${selector} {`);
  return at < 0 ? undefined : css.slice(at, css.indexOf('}', at));
};

describe('styles', () => {
  it('shows a message still being sent (or waiting for its region) at 4.5:1 or more, in both schemes', () => {
    const pending = rule('.msg.pending .msg-text');
    expect(pending).toBeDefined();
    // Opacity blends the text into its background: it is how this fell to 4.28:1.
    expect(pending).not.toMatch(/opacity/);
    expect(pending).toMatch(/color:\s*var\(--muted\)/);
    const light = variables(0);
    const dark = { ...light, ...variables(css.indexOf('prefers-color-scheme: dark')) };
    for (const scheme of [light, dark]) expect(contrastRatio(scheme['--muted']!, scheme['--own']!)).toBeGreaterThanOrEqual(4.5);
  });
});
