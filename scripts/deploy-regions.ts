/**
 * npm run deploy:regions [-- --outputs amplify_outputs.json] [--destroy]
 *
 * After the primary is deployed (ampx pipeline-deploy or ampx sandbox, which
 * write amplify_outputs.json): deploys one stack per secondary region of its
 * custom.deployment.regions with the CDK CLI (amplify/regions/app.ts), then
 * writes every region's endpoint into amplify_outputs.json custom.regions,
 * primary first, for the frontend build. A single-region primary has no
 * secondaries: only custom.regions is (re)written. --destroy removes the
 * secondary stacks (a sandbox's or a closed preview's; Amplify does not).
 *
 * Needs credentials for the primary's account and the CDK bootstrap stack in
 * every secondary region (`npx cdk bootstrap aws://<account>/<region>`, once).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { secondaryStackName } from '../amplify/regions/names';
import { primaryOutputs, secondaryRegions, withRegionEndpoints } from '../amplify/regions/outputs';
import { WEBSOCKET_URL_OUTPUT } from '../amplify/regions/stack-outputs';

const { values } = parseArgs({
  options: {
    outputs: { type: 'string', default: 'amplify_outputs.json' },
    destroy: { type: 'boolean', default: false },
  },
});
const outputsPath = resolve(values.outputs);
const outputs = JSON.parse(readFileSync(outputsPath, 'utf8')) as Record<string, unknown>;
const primary = primaryOutputs(outputs);
const regions = secondaryRegions(primary);
const stacks = regions.map((r) => secondaryStackName(primary.deployment.id, r));

/** Runs the CDK CLI of devDependencies on the secondary app; rejects on a non-zero exit. */
function cdk(args: string[]): Promise<void> {
  const app = `"${process.execPath}" --import tsx amplify/regions/app.ts`;
  return new Promise((done, fail) => {
    const child = spawn('npx', ['cdk', ...args, '--app', app, '--context', `parley:outputs=${outputsPath}`, '--output', 'cdk.out/regions'], {
      stdio: 'inherit',
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
    });
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done() : fail(new Error(`cdk ${args[0]} exited with ${code}`))));
  });
}

if (values.destroy) {
  if (stacks.length > 0) await cdk(['destroy', '--force', ...stacks]);
  console.log(`Destroyed ${stacks.length} secondary stack(s).`);
  process.exit(0);
}

const endpoints: Record<string, string> = {};
if (stacks.length > 0) {
  console.log(`Deploying ${regions.join(', ')} for ${primary.deployment.id} (primary ${primary.primaryRegion}) ...`);
  const dir = mkdtempSync(join(tmpdir(), 'parley-regions-'));
  const file = join(dir, 'outputs.json');
  try {
    await cdk(['deploy', '--require-approval', 'never', '--ci', '--outputs-file', file, ...stacks]);
    const stackOutputs = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string> | undefined>;
    regions.forEach((region, i) => {
      const url = stackOutputs[stacks[i]!]?.[WEBSOCKET_URL_OUTPUT];
      if (url) endpoints[region] = url;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  console.log('Single-region primary: no secondary stacks to deploy.');
}

writeFileSync(outputsPath, `${JSON.stringify(withRegionEndpoints(outputs, endpoints), null, 2)}\n`);
console.log(`custom.regions in ${values.outputs}: ${[primary.primaryRegion, ...Object.keys(endpoints)].join(', ')}`);
