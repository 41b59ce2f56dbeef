/**
 * Offline synthesis of the Amplify backend: no AWS account, no credentials.
 * Runs amplify/backend.ts the way ampx does (a child process with CDK context
 * in CDK_CONTEXT_JSON), with cdk-nag on, then reads the cloud assembly.
 * Shared by `npm run synth` (scripts/synth.ts) and test/synth.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export type BackendType = 'sandbox' | 'branch';

/** Mirrors ACCESS_LOGS_ENV / ACCESS_LOGS_CONTEXT of amplify/realtime/construct.ts (not imported: it loads aws-cdk-lib). */
export const ACCESS_LOGS_ENV = 'PARLEY_WEBSOCKET_ACCESS_LOGS';
export const ACCESS_LOGS_CONTEXT = 'parley:websocketAccessLogs';

/** Mirrors FUNCTION_TAG of amplify/realtime/function.ts: every Parley function's name, in every region. */
export const FUNCTION_TAG = 'parley:function';

/** Per-function budget for the minified handler; the SDK comes from the Lambda runtime. */
export const BUNDLE_BUDGET_BYTES = 150 * 1024;

export interface SynthOptions {
  type: BackendType;
  /** Empty directory for the cloud assembly (keep it outside the repo). */
  outdir: string;
  /** Bundle the Lambda code with esbuild (default true); off saves ~3 s. */
  bundle?: boolean;
  /** Synthesize as an Amplify Hosting pull-request preview (sets AWS_PULL_REQUEST_ID). */
  pullRequestId?: string;
  /**
   * Turn on WebSocket stage access logs (CDK context parley:websocketAccessLogs), as a
   * backend does once its account has the API Gateway CloudWatch role. Off by default.
   */
  accessLogs?: boolean;
}

export interface SynthRun {
  code: number;
  ms: number;
  stdout: string;
  stderr: string;
}

export type CfnTemplate = {
  Resources?: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string | string[]; [k: string]: unknown }>;
  Outputs?: Record<string, { Value: unknown }>;
  Metadata?: Record<string, unknown>;
  [k: string]: unknown;
};

export function contextFor(opts: SynthOptions): Record<string, unknown> {
  return {
    'amplify-backend-namespace': 'parley',
    'amplify-backend-name': opts.type === 'sandbox' ? 'test' : 'main',
    'amplify-backend-type': opts.type,
    // Findings of CDK's built-in CloudFormation validation fail the synth
    // instead of being printed as warnings.
    '@aws-cdk/core:validateAgainstDefaultRules': true,
    ...(opts.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    ...(opts.accessLogs ? { [ACCESS_LOGS_CONTEXT]: true } : {}),
  };
}

/** Synthesizes into opts.outdir; resolves with the exit code, never rejects on a failed synth. */
export function synthesize(opts: SynthOptions): Promise<SynthRun> {
  // Never inherit AWS_PULL_REQUEST_ID (e.g. when the tests run inside an Amplify preview build): opts decide.
  return runChild('amplify/backend.ts', opts.outdir, contextFor(opts), {
    AMPLIFY_DISABLE_TELEMETRY: '1',
    AWS_PULL_REQUEST_ID: opts.pullRequestId,
  });
}

/**
 * The secondary regions' CDK app (amplify/regions/app.ts), built from a
 * primary's outputs file (in tests, a fixture), with cdk-nag on.
 */
export function synthesizeRegions(opts: { outdir: string; outputsFile: string; bundle?: boolean }): Promise<SynthRun> {
  return runChild(
    'amplify/regions/app.ts',
    opts.outdir,
    {
      'parley:outputs': opts.outputsFile,
      '@aws-cdk/core:validateAgainstDefaultRules': true,
      ...(opts.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    },
    { CDK_DEFAULT_ACCOUNT: undefined },
  );
}

/** One CDK app in a child process with cdk-nag on; `env` entries set to undefined are removed. */
function runChild(entry: string, outdir: string, context: Record<string, unknown>, extra: Record<string, string | undefined> = {}): Promise<SynthRun> {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context), PARLEY_NAG: '1' };
  delete env[ACCESS_LOGS_ENV];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, ms: Date.now() - started, stdout, stderr }));
  });
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** Every top-level stack of a plain CDK assembly (the secondary regions), by stack name. */
export function loadStacks(outdir: string): Record<string, CfnTemplate> {
  const files = readdirSync(outdir).filter((f) => f.endsWith('.template.json') && !f.endsWith('.nested.template.json'));
  return Object.fromEntries(files.map((f) => [f.replace(/\.template\.json$/, ''), readJson<CfnTemplate>(join(outdir, f))]));
}

export interface Assembly {
  root: CfnTemplate;
  rootFile: string;
  nested: { file: string; template: CfnTemplate }[];
  all: CfnTemplate[];
}

export function loadAssembly(outdir: string): Assembly {
  const files = readdirSync(outdir);
  const rootFiles = files.filter((f) => f.endsWith('.template.json') && !f.endsWith('.nested.template.json'));
  if (rootFiles.length !== 1) throw new Error(`expected one root template in ${outdir}, found ${rootFiles.join(', ') || 'none'}`);
  const rootFile = rootFiles[0]!;
  const root = readJson<CfnTemplate>(join(outdir, rootFile));
  const nested = files
    .filter((f) => f.endsWith('.nested.template.json'))
    .map((file) => ({ file, template: readJson<CfnTemplate>(join(outdir, file)) }));
  return { root, rootFile, nested, all: [root, ...nested.map((n) => n.template)] };
}

/** The nested template that holds a resource of this type (e.g. the WebSocket API). */
export function templateWith(assembly: Assembly, type: string): CfnTemplate {
  const found = assembly.all.find((t) => Object.values(t.Resources ?? {}).some((r) => r.Type === type));
  if (!found) throw new Error(`no template contains ${type}`);
  return found;
}

export interface BundleSize {
  name: string;
  asset: string;
  /** The minified handler (index.mjs). */
  codeBytes: number;
  /** Everything uploaded: code plus source map. */
  totalBytes: number;
  /** Packages left to the Lambda runtime, e.g. @aws-sdk/lib-dynamodb. */
  runtimeImports: string[];
}

type Tag = { Key: string; Value: string };

/**
 * One entry per Parley function (tagged with FUNCTION_TAG, or with an Amplify
 * friendly name) whose code is a bundled asset in outdir. Amplify's own
 * helper functions (branch linker) are not ours to size.
 */
export function bundleSizes(outdir: string, assembly: Pick<Assembly, 'all'> = loadAssembly(outdir)): BundleSize[] {
  const out: BundleSize[] = [];
  for (const template of assembly.all) {
    for (const res of Object.values(template.Resources ?? {})) {
      if (res.Type !== 'AWS::Lambda::Function') continue;
      const code = res.Properties?.Code as { S3Key?: unknown } | undefined;
      if (typeof code?.S3Key !== 'string') continue;
      const asset = `asset.${code.S3Key.replace(/\.zip$/, '')}`;
      const dir = join(outdir, asset);
      if (!existsSync(dir)) continue;
      const tags = (res.Properties?.Tags as Tag[] | undefined) ?? [];
      const name = tags.find((t) => t.Key === FUNCTION_TAG || t.Key === 'amplify:friendly-name')?.Value;
      if (!name) continue;
      const entries = readdirSync(dir);
      const totalBytes = entries.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
      const main = entries.find((f) => /^index\.(mjs|js|cjs)$/.test(f));
      const source = main ? readFileSync(join(dir, main), 'utf8') : '';
      const runtimeImports = [...new Set([...source.matchAll(/from\s*"(@aws-sdk\/[^"]+|@smithy\/[^"]+)"/g)].map((m) => m[1]!))].sort();
      out.push({ name, asset, codeBytes: main ? statSync(join(dir, main)).size : 0, totalBytes, runtimeImports });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

interface ReportViolation {
  ruleName: string;
  description?: string;
  severity?: string;
  violatingConstructs?: { constructPath?: string }[];
  violatingResources?: { resourceLogicalId?: string; templatePath?: string; constructPath?: string }[];
}
interface ValidationReport {
  pluginReports?: { pluginName: string; conclusion?: string; violations?: ReportViolation[] }[];
}

/**
 * Unacknowledged findings in CDK's validation-report.json: the built-in
 * CloudFormation validation (which also catches circular nested stacks)
 * plus cdk-nag's AwsSolutions pack. No report file means nothing to report.
 */
export function validationFindings(outdir: string): string[] {
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return [];
  const report = readJson<ValidationReport>(file);
  const findings: string[] = [];
  for (const plugin of report.pluginReports ?? []) {
    for (const v of plugin.violations ?? []) {
      const where = [
        ...(v.violatingConstructs ?? []).map((c) => c.constructPath),
        ...(v.violatingResources ?? []).map((r) => r.constructPath ?? `${r.templatePath}#${r.resourceLogicalId}`),
      ].filter(Boolean);
      findings.push(`${plugin.pluginName} ${v.ruleName} [${v.severity ?? 'error'}] ${v.description ?? ''} at ${where.join(', ')}`);
    }
  }
  return findings;
}

/** Logical ids of every resource referenced (Ref / Fn::GetAtt / DependsOn) inside a value. */
export function referencedIds(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => referencedIds(v, into));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Ref' && typeof v === 'string') into.add(v);
      else if (k === 'Fn::GetAtt' && Array.isArray(v) && typeof v[0] === 'string') into.add(v[0]);
      else if (k === 'Fn::GetAtt' && typeof v === 'string') into.add(v.split('.')[0]!);
      else referencedIds(v, into);
    }
  }
  return into;
}

/** Cycles among the nested stacks of the root template (empty when it is a DAG). */
export function nestedStackCycles(root: CfnTemplate): string[][] {
  const resources = root.Resources ?? {};
  const stacks = Object.keys(resources).filter((id) => resources[id]!.Type === 'AWS::CloudFormation::Stack');
  const edges = new Map<string, string[]>();
  for (const id of stacks) {
    const res = resources[id]!;
    const deps = referencedIds(res.Properties);
    for (const d of [res.DependsOn ?? []].flat()) deps.add(d);
    edges.set(id, [...deps].filter((d) => stacks.includes(d) && d !== id));
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]): void => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(id)), id]);
      return;
    }
    state.set(id, 'visiting');
    for (const next of edges.get(id) ?? []) visit(next, [...path, id]);
    state.set(id, 'done');
  };
  stacks.forEach((id) => visit(id, []));
  return cycles;
}

export const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
