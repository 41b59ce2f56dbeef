/**
 * Amplify Hosting configuration: the build spec (amplify.yml) and the custom
 * response headers (customHttp.yml). Parsed with a small YAML-subset reader
 * below, enough for these two files, so no YAML dependency is needed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REGIONS } from '../amplify/regions/list';
import { connectSources, contentSecurityPolicy, CUSTOM_HTTP_FILE, customHttpYml } from '../scripts/csp-lib';
import { REPO_ROOT } from '../scripts/synth-lib';

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * Block-style YAML: mappings, sequences (of scalars or mappings), plain and
 * quoted scalars, comments. No anchors, flow collections or multi-line scalars.
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw) => ({ indent: raw.length - raw.trimStart().length, text: stripComment(raw).trim() }))
    .filter((l) => l.text !== '');
  let i = 0;

  function scalar(s: string): string {
    if (s.startsWith("'") && s.endsWith("'")) return s.slice(1, -1).replaceAll("''", "'");
    if (s.startsWith('"') && s.endsWith('"')) return JSON.parse(s) as string;
    return s;
  }
  function keyValue(s: string): [string, string] | undefined {
    const m = /^([^'"\s][^:]*|'[^']*'|"[^"]*"):(?:\s+(.*))?$/.exec(s);
    return m ? [scalar(m[1]!.trim()), m[2] ?? ''] : undefined;
  }
  function block(indent: number): Yaml {
    return lines[i]!.text.startsWith('- ') || lines[i]!.text === '-' ? sequence(indent) : mapping(indent);
  }
  function mapping(indent: number, into: Record<string, Yaml> = {}): Record<string, Yaml> {
    while (i < lines.length && lines[i]!.indent === indent && !lines[i]!.text.startsWith('- ')) {
      const kv = keyValue(lines[i]!.text);
      if (!kv) throw new Error(`line ${i + 1}: expected "key: value", got "${lines[i]!.text}"`);
      i++;
      const [key, rest] = kv;
      if (rest !== '') into[key] = scalar(rest);
      else if (i < lines.length && (lines[i]!.indent > indent || (lines[i]!.indent === indent && lines[i]!.text.startsWith('- '))))
        into[key] = block(lines[i]!.indent);
      else into[key] = '';
    }
    return into;
  }
  function sequence(indent: number): Yaml[] {
    const items: Yaml[] = [];
    while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) {
      const rest = lines[i]!.text.slice(2).trim();
      const kv = keyValue(rest);
      if (!kv) {
        items.push(scalar(rest));
        i++;
        continue;
      }
      // "- key: value" starts a mapping whose further keys sit 2 columns in.
      const itemIndent = indent + 2;
      lines[i] = { indent: itemIndent, text: rest };
      items.push(mapping(itemIndent));
    }
    return items;
  }
  return block(lines[0]!.indent);
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let k = 0; k < line.length; k++) {
    const c = line[k]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (k === 0 || /\s/.test(line[k - 1]!))) return line.slice(0, k);
  }
  return line;
}

const read = (file: string) => parseYaml(readFileSync(`${REPO_ROOT}/${file}`, 'utf8'));
const obj = (y: Yaml | undefined): Record<string, Yaml> => {
  if (!y || typeof y === 'string' || Array.isArray(y)) throw new Error(`expected a mapping, got ${JSON.stringify(y)}`);
  return y;
};
const list = (y: Yaml | undefined): Yaml[] => {
  if (!Array.isArray(y)) throw new Error(`expected a sequence, got ${JSON.stringify(y)}`);
  return y;
};

describe('the YAML-subset reader', () => {
  it('reads mappings, sequences, quotes and comments', () => {
    expect(
      parseYaml(`a: 1 # note\nb:\n  - 'x # not a comment'\n  - k: "v"\n    l: w\nc:\n  d: ''\n`),
    ).toEqual({ a: '1', b: ['x # not a comment', { k: 'v', l: 'w' }], c: { d: '' } });
  });
});

// ------------------------------------------------------------------ customHttp.yml

type Rule = { pattern: string; headers: Record<string, string> };
const rules: Rule[] = list(obj(read('customHttp.yml')).customHeaders).map((r) => ({
  pattern: obj(r).pattern as string,
  headers: Object.fromEntries(list(obj(r).headers).map((h) => [obj(h).key as string, obj(h).value as string])),
}));
const headersFor = (pattern: string) => rules.find((r) => r.pattern === pattern)?.headers ?? {};
const all = headersFor('**/*');

function csp(): Map<string, string[]> {
  const policy = all['Content-Security-Policy'] ?? '';
  return new Map(
    policy
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

describe('customHttp.yml', () => {
  it('caches hashed Vite assets for a year, immutably', () => {
    const assets = rules.find((r) => /^\/assets\/\*\*/.test(r.pattern));
    expect(assets?.headers['Cache-Control']).toBe('public, max-age=31536000, immutable');
  });

  it('makes browsers revalidate the entry document', () => {
    expect(headersFor('/index.html')['Cache-Control']).toBe('no-cache');
    expect(headersFor('/')['Cache-Control']).toBe('no-cache');
  });

  it('never sets two Cache-Control values on one path pattern family', () => {
    expect(all['Cache-Control']).toBeUndefined();
  });

  it('sends the security headers on every path', () => {
    expect(all['Strict-Transport-Security']).toMatch(/^max-age=(\d+)/);
    expect(Number(/max-age=(\d+)/.exec(all['Strict-Transport-Security']!)![1])).toBeGreaterThanOrEqual(31536000);
    expect(all['X-Content-Type-Options']).toBe('nosniff');
    expect(all['X-Frame-Options']).toBe('DENY');
    expect(all['Referrer-Policy']).toMatch(/^(no-referrer|strict-origin|strict-origin-when-cross-origin|same-origin)$/);
    expect(all['Permissions-Policy']).toMatch(/camera=\(\)/);
    expect(all['Permissions-Policy']).toMatch(/microphone=\(\)/);
    expect(all['Permissions-Policy']).toMatch(/geolocation=\(\)/);
  });

  it('has a locked-down Content-Security-Policy', () => {
    const p = csp();
    expect(p.get('default-src')).toEqual(["'self'"]);
    expect(p.get('script-src')).toEqual(["'self'"]);
    expect(p.get('style-src')?.[0]).toBe("'self'");
    expect(p.get('img-src')).toEqual(["'self'", 'data:']);
    expect(p.get('frame-ancestors')).toEqual(["'none'"]);
    expect(p.get('object-src')).toEqual(["'none'"]);
    expect(p.get('base-uri')).toEqual(["'self'"]);
    for (const [directive, sources] of p) {
      expect(sources, directive).not.toContain("'unsafe-eval'");
      if (directive !== 'style-src') expect(sources, directive).not.toContain("'unsafe-inline'");
    }
  });

  it('is exactly what npm run csp generates from the region list (no hand edits)', () => {
    expect(readFileSync(`${REPO_ROOT}/${CUSTOM_HTTP_FILE}`, 'utf8')).toBe(customHttpYml());
  });

  it("allows every region's execute-api (wss and https) and Cognito in the primary only", () => {
    const connect = csp().get('connect-src') ?? [];
    for (const region of REGIONS) {
      expect(connect, region).toContain(`wss://*.execute-api.${region}.amazonaws.com`);
      expect(connect, region).toContain(`https://*.execute-api.${region}.amazonaws.com`);
    }
    const cognito = connect.filter((s) => s.includes('cognito'));
    expect(cognito.sort()).toEqual([`https://cognito-identity.${REGIONS[0]}.amazonaws.com`, `https://cognito-idp.${REGIONS[0]}.amazonaws.com`]);
    expect(connect).toEqual(connectSources(REGIONS));
    // Generated for another list, the policy follows it.
    expect(contentSecurityPolicy(['eu-central-1'])).toContain('wss://*.execute-api.eu-central-1.amazonaws.com https://*.execute-api.eu-central-1.amazonaws.com https://cognito-idp.eu-central-1');
  });

  it('lets the page reach the WebSocket API and Cognito, and nothing else', () => {
    const connect = csp().get('connect-src') ?? [];
    expect(connect[0]).toBe("'self'");
    expect(connect.some((s) => /^wss:\/\/\*\.execute-api\.[a-z0-9-]+\.amazonaws\.com$/.test(s))).toBe(true);
    expect(connect.some((s) => /^https:\/\/cognito-idp\.[a-z0-9-]+\.amazonaws\.com$/.test(s))).toBe(true);
    for (const s of connect.slice(1)) expect(s).toMatch(/^(wss|https):\/\/[^/]*\.amazonaws\.com$/);
  });

  it('uses only CSP host sources that browsers accept (a wildcard only as the leftmost label)', () => {
    for (const [directive, sources] of csp()) {
      for (const s of sources) {
        const host = /^[a-z][a-z0-9+.-]*:\/\/([^/:]+)/.exec(s)?.[1];
        if (host) expect(host, `${directive} ${s}`).toMatch(/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/);
      }
    }
  });
});

// ------------------------------------------------------------------ amplify.yml

describe('amplify.yml', () => {
  const spec = obj(read('amplify.yml'));
  const commands = (section: string) => list(obj(obj(obj(spec[section]).phases).build).commands) as string[];

  it('deploys the branch backend with ampx pipeline-deploy after a cached npm ci', () => {
    const backend = commands('backend');
    const ci = backend.indexOf('npm ci --cache .npm --prefer-offline');
    const deploy = backend.findIndex((c) => /(^|\s)npx ampx pipeline-deploy --branch \$AWS_BRANCH --app-id \$AWS_APP_ID$/.test(c));
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(deploy).toBeGreaterThan(ci);
  });

  it('deploys the secondary regions after the primary and before the frontend build reads amplify_outputs.json', () => {
    const backend = commands('backend');
    const deploy = backend.findIndex((c) => c.includes('ampx pipeline-deploy'));
    const regions = backend.indexOf('npm run deploy:regions');
    expect(regions).toBeGreaterThan(deploy);
    expect(regions).toBe(backend.length - 1);
    expect(commands('frontend')).not.toContain('npm run deploy:regions');
  });

  it('builds the frontend and publishes dist/', () => {
    expect(commands('frontend')).toContain('npm run build');
    const artifacts = obj(obj(spec.frontend).artifacts);
    expect(artifacts.baseDirectory).toBe('dist');
    expect(artifacts.files).toEqual(['**/*']);
  });

  it('caches the npm cache and node_modules', () => {
    expect(obj(obj(spec.frontend).cache).paths).toEqual(['.npm/**/*', 'node_modules/**/*']);
  });

  it('builds both phases on Node 22, the Lambda runtime\'s version, first thing', () => {
    for (const phase of ['backend', 'frontend']) expect(commands(phase)[0]).toBe('nvm install 22');
  });
});
