/**
 * Figure 5: cold-start proxies. Each handler bundled as deployment bundles
 * it (amplify/realtime/function.ts: esbuild, ESM, minified, AWS SDK
 * external because the Lambda runtime provides it), and again with the SDK
 * inlined; then each bundle imported in a fresh `node` to time module
 * initialisation.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { ENV } from '../../amplify/core/config';
import { progress, type Sizes } from '../env';
import type { Figure, Row } from '../report';
import { median, round } from '../stats';

const run = promisify(execFile);

/** The same settings as amplify/realtime/function.ts (not imported: that module loads aws-cdk-lib). */
const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*', '@smithy/*'];
const REQUIRE_SHIM = "import{createRequire as __parleyCreateRequire}from'node:module';const require=__parleyCreateRequire(import.meta.url);";

/** Parley's function and the tutorial function that plays its part (the tutorial has no authorizer). */
const PAIRS: { role: string; parley: string; baseline?: string }[] = [
  { role: 'authorizer', parley: 'amplify/functions/authorizer/handler.ts' },
  { role: 'connect', parley: 'amplify/functions/connect/handler.ts', baseline: 'bench/baseline/lambda/onconnect.ts' },
  { role: 'disconnect', parley: 'amplify/functions/disconnect/handler.ts', baseline: 'bench/baseline/lambda/ondisconnect.ts' },
  { role: 'chat / sendmessage', parley: 'amplify/functions/chat/handler.ts', baseline: 'bench/baseline/lambda/sendmessage.ts' },
];

/** What the handlers read at import, with AWS-shaped values (no issuer: the Cognito path, as in AWS). */
const HANDLER_ENV: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  [ENV.connectionsTable]: 'parley-connections',
  [ENV.chatTable]: 'parley-chat',
  [ENV.usersTable]: 'parley-users',
  [ENV.userPoolId]: 'us-east-1_BenchPool1',
  [ENV.userPoolClientId]: 'benchclientid0000000000000',
  TABLE_NAME: 'tutorial-connections',
};

async function bundle(entry: string, outfile: string, inlineSdk: boolean): Promise<number> {
  await build({
    entryPoints: [resolve(entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    minify: true,
    external: inlineSdk ? [] : RUNTIME_PROVIDED_MODULES,
    banner: { js: REQUIRE_SHIM },
    logLevel: 'error',
  });
  return statSync(outfile).size;
}

/** Milliseconds to import the bundle in a fresh node, median of `runs`. */
async function initMs(file: string, runs: number): Promise<number> {
  const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...HANDLER_ENV },
      timeout: 30_000,
    });
    times.push(Number(stdout));
  }
  return median(times);
}

interface Measured {
  externalKiB: number;
  inlinedKiB: number;
  initMs: number;
  initInlinedMs: number;
}

export async function bundlesFigure(ctx: { sizes: Sizes }): Promise<Figure> {
  // Inside the checkout, so the external bundles resolve @aws-sdk from node_modules as Lambda resolves its own.
  const dir = resolve('node_modules/.cache/parley-bench/bundles');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const runs = ctx.sizes.bundles.initRuns;
  const measure = async (entry: string, name: string): Promise<Measured> => {
    const external = join(dir, `${name}.mjs`);
    const inlined = join(dir, `${name}.sdk.mjs`);
    const externalKiB = round((await bundle(entry, external, false)) / 1024, 1);
    const inlinedKiB = round((await bundle(entry, inlined, true)) / 1024, 1);
    return { externalKiB, inlinedKiB, initMs: round(await initMs(external, runs), 1), initInlinedMs: round(await initMs(inlined, runs), 1) };
  };
  try {
    const rows: Row[] = [];
    const details: string[] = [];
    for (const pair of PAIRS) {
      progress(`  bundling ${pair.role}`);
      const p = await measure(pair.parley, `parley-${pair.role.split(' ')[0]}`);
      const b = pair.baseline ? await measure(pair.baseline, `tutorial-${pair.role.split(' ')[0]}`) : undefined;
      rows.push(
        { metric: `${pair.role}: bundle, SDK external (deployed)`, unit: 'KiB', parley: p.externalKiB, baseline: b?.externalKiB ?? null, better: 'lower', goal: { text: '≤ 150 KiB', met: p.externalKiB <= 150 } },
        { metric: `${pair.role}: bundle, SDK inlined`, unit: 'KiB', parley: p.inlinedKiB, baseline: b?.inlinedKiB ?? null, better: 'lower' },
        { metric: `${pair.role}: module init, SDK external`, unit: 'ms', parley: p.initMs, baseline: b?.initMs ?? null, better: 'lower' },
      );
      details.push(`${pair.role}: init with the SDK inlined ${p.initInlinedMs} ms (baseline ${b?.initInlinedMs ?? 'n/a'} ms)`);
    }
    return {
      id: 5,
      title: 'Cold-start proxies: handler bundle size and module initialisation',
      method:
        `esbuild as amplify/realtime/function.ts configures the deployed functions (ESM, node22, minified, @aws-sdk/* and @smithy/* external, the require shim), and again with the SDK inlined. ` +
        `Init: a fresh \`node ${process.version}\` imports the bundle with the handler's env set (median of ${runs}); the external SDK then loads from node_modules, as Lambda loads its own. Node start-up itself is not included.`,
      rows,
      notes: [
        ...details,
        'The tutorial has no authorizer (anyone may connect), so that row has no baseline.',
        'Lambda cold start adds the runtime boot and the network distance to the SDK clients; these are local proxies for the part the code controls.',
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
