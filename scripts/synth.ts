/**
 * npm run synth [-- --type sandbox|branch] [--out <dir>] [--no-bundle] [--pr <id>] [--access-logs]
 *
 * Synthesizes the Amplify backend offline (no AWS account), prints each
 * function's bundle size and fails on any CDK validation finding (built-in
 * CloudFormation checks, circular nested stacks, cdk-nag AwsSolutions) or
 * a bundle over the budget. The assembly goes to a temp dir (deleted
 * afterwards) unless --out <dir> is given.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BUNDLE_BUDGET_BYTES,
  type BackendType,
  bundleSizes,
  kb,
  loadAssembly,
  nestedStackCycles,
  synthesize,
  validationFindings,
} from './synth-lib';

const { values } = parseArgs({
  options: {
    type: { type: 'string', default: 'sandbox' },
    out: { type: 'string' },
    'no-bundle': { type: 'boolean', default: false },
    /** Pretend to be an Amplify Hosting pull-request preview build. */
    pr: { type: 'string' },
    /** With WebSocket access logs, as once the account has its API Gateway CloudWatch role. */
    'access-logs': { type: 'boolean', default: false },
  },
});
if (values.type !== 'sandbox' && values.type !== 'branch') {
  console.error(`--type must be sandbox or branch, not ${values.type}`);
  process.exit(2);
}
const type: BackendType = values.type;
const outdir = values.out ? resolve(values.out) : mkdtempSync(join(tmpdir(), `parley-synth-${type}-`));
const bundle = !values['no-bundle'];
// A temp assembly is removed on exit; pass --out to keep one for inspection.
if (!values.out) process.on('exit', () => rmSync(outdir, { recursive: true, force: true }));

console.log(`Synthesizing the ${type} backend into ${outdir} ...`);
const run = await synthesize({ type, outdir, bundle, accessLogs: values['access-logs'], ...(values.pr ? { pullRequestId: values.pr } : {}) });
const findings = validationFindings(outdir);
const problems: string[] = [];

if (run.code !== 0 && findings.length === 0) {
  console.error(run.stderr.split('\n').slice(-40).join('\n'));
  console.error(`synth failed (exit ${run.code}) after ${(run.ms / 1000).toFixed(1)} s`);
  process.exit(1);
}
console.log(`synth ${run.code === 0 ? 'done' : 'stopped by validation'} in ${(run.ms / 1000).toFixed(1)} s`);

if (run.code === 0) {
  const assembly = loadAssembly(outdir);
  for (const cycle of nestedStackCycles(assembly.root)) problems.push(`circular nested stacks: ${cycle.join(' -> ')}`);
  if (bundle) {
    console.log('\nfunction      code (minified)   with source map   from the Lambda runtime');
    for (const b of bundleSizes(outdir, assembly)) {
      console.log(`${b.name.padEnd(13)} ${kb(b.codeBytes).padStart(15)}   ${kb(b.totalBytes).padStart(15)}   ${b.runtimeImports.join(' ')}`);
      if (b.codeBytes > BUNDLE_BUDGET_BYTES) problems.push(`${b.name} bundle is ${kb(b.codeBytes)}, over ${kb(BUNDLE_BUDGET_BYTES)}`);
    }
  }
}

problems.push(...findings.map((f) => `validation: ${f}`));
if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('\nvalidation-report: no findings (CloudFormation checks + cdk-nag AwsSolutions)');
