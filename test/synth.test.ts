/**
 * Offline synthesis of the real backend (amplify/backend.ts), asserted on the
 * generated CloudFormation. Synthesized once each: sandbox (with Lambda
 * bundling, for bundle sizes), branch with WebSocket access logs opted in (as
 * once its account has the API Gateway CloudWatch role), a branch
 * pull-request preview (bundling skipped; for retention, deletion protection
 * and its single region), and the secondary regions' CDK app from a fixture
 * of the primary's outputs (bundled).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS } from '../amplify/core/protocol';
import { ACCESS_LOG_FIELDS, ACCESS_LOGS_CONTEXT, ACCESS_LOGS_ENV, STAGE_NAME, STAGE_THROTTLE, TOKEN_IDENTITY_SOURCE } from '../amplify/realtime/construct';
import { FUNCTION_ACCESS, type FunctionName, INVOKES_OTHER_HOMES, REGION_AWARE, STREAM_READ_ACTIONS, USES_CALLBACK_URL } from '../amplify/realtime/permissions';
import { ENV } from '../amplify/core/config';
import { FANOUT_STREAM } from '../amplify/realtime/defaults';
import { fanoutStreamFilter } from '../amplify/realtime/defaults';
import { TABLES, type TableShape } from '../amplify/realtime/tables';
import { REGIONS } from '../amplify/regions/list';
import { deploymentId, FUNCTION_NAME_MAX, homeFunctionName, secondaryStackName } from '../amplify/regions/names';
import { primaryOutputs } from '../amplify/regions/outputs';
import {
  ACCESS_LOGS_CONTEXT as SYNTH_ACCESS_LOGS_CONTEXT,
  ACCESS_LOGS_ENV as SYNTH_ACCESS_LOGS_ENV,
  type Assembly,
  BUNDLE_BUDGET_BYTES,
  type BackendType,
  type BundleSize,
  type CfnTemplate,
  bundleSizes,
  FUNCTION_TAG,
  kb,
  loadAssembly,
  loadStacks,
  nestedStackCycles,
  referencedIds,
  REPO_ROOT,
  synthesize,
  synthesizeRegions,
  templateWith,
  validationFindings,
} from '../scripts/synth-lib';

/** Four synths of ~7 s warm each; a cold machine (first esbuild/tsx run) takes far longer. */
const SYNTH_TIMEOUT_MS = 300_000;
const FUNCTIONS: FunctionName[] = ['authorizer', 'connect', 'disconnect', 'chat', 'home', 'fanout'];
/** The sandbox synth's Amplify identity (synth-lib contextFor). */
const SANDBOX_DEPLOYMENT = deploymentId('parley', 'test');
const FIXTURE = 'test/fixtures/primary-outputs.json';
const fixture = primaryOutputs(JSON.parse(readFileSync(join(REPO_ROOT, FIXTURE), 'utf8')));

type Resource = NonNullable<CfnTemplate['Resources']>[string];
type Statement = { Action: string | string[]; Effect: string; Resource: unknown };

interface Synth {
  outdir: string;
  assembly: Assembly;
  realtime: CfnTemplate;
  auth: CfnTemplate;
}
const synths = {} as Record<BackendType | 'preview', Synth>;
let bundles: BundleSize[] = [];
/** The secondary regions' assembly: one stack per region after the primary. */
let secondary: { outdir: string; stacks: Record<string, CfnTemplate>; bundles: BundleSize[] };

async function run(type: BackendType, bundle: boolean, opts: { pullRequestId?: string; accessLogs?: boolean } = {}): Promise<Synth> {
  const outdir = mkdtempSync(join(tmpdir(), `parley-synth-test-${type}-`));
  const result = await synthesize({ type, outdir, bundle, ...opts });
  if (result.code !== 0) {
    const findings = validationFindings(outdir);
    throw new Error(`${type} synth failed (exit ${result.code}):\n${findings.join('\n') || result.stderr.slice(-4000)}`);
  }
  const assembly = loadAssembly(outdir);
  return {
    outdir,
    assembly,
    realtime: templateWith(assembly, 'AWS::ApiGatewayV2::Api'),
    auth: templateWith(assembly, 'AWS::Cognito::UserPool'),
  };
}

beforeAll(async () => {
  // One after the other: each synth takes ~500 MB and the machine is shared.
  synths.sandbox = await run('sandbox', true);
  synths.branch = await run('branch', false, { accessLogs: true });
  synths.preview = await run('branch', false, { pullRequestId: '42' });
  bundles = bundleSizes(synths.sandbox.outdir, synths.sandbox.assembly);
  const outdir = mkdtempSync(join(tmpdir(), 'parley-synth-test-regions-'));
  const result = await synthesizeRegions({ outdir, outputsFile: FIXTURE });
  if (result.code !== 0) throw new Error(`regions synth failed (exit ${result.code}):\n${validationFindings(outdir).join('\n') || result.stderr.slice(-4000)}`);
  const stacks = loadStacks(outdir);
  secondary = { outdir, stacks, bundles: bundleSizes(outdir, { all: Object.values(stacks) }) };
}, SYNTH_TIMEOUT_MS);

afterAll(() => {
  for (const s of Object.values(synths)) rmSync(s.outdir, { recursive: true, force: true });
  if (secondary) rmSync(secondary.outdir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

const resources = (t: CfnTemplate, type: string): [string, Resource][] =>
  Object.entries(t.Resources ?? {}).filter(([, r]) => r.Type === type);

const props = (r: Resource): Record<string, unknown> => r.Properties ?? {};

/** Logical id of each Parley function in a template, by its tag (every region) or Amplify friendly name. */
function functionIds(t: CfnTemplate): Record<FunctionName, string> {
  const out = {} as Record<FunctionName, string>;
  for (const [id, r] of resources(t, 'AWS::Lambda::Function')) {
    const tags = (props(r).Tags as { Key: string; Value: string }[] | undefined) ?? [];
    const name = tags.find((x) => x.Key === FUNCTION_TAG || x.Key === 'amplify:friendly-name')?.Value;
    if (name && (FUNCTIONS as string[]).includes(name)) out[name as FunctionName] = id;
  }
  return out;
}

/**
 * Logical id of each table, found through the env var the functions read it
 * from. The users table is the auth stack's: here its id is what the realtime
 * template references it by (a nested-stack parameter).
 */
function tableIds(t: CfnTemplate): Record<TableShape['id'], string> {
  const fns = functionIds(t);
  const env = (fn: FunctionName) =>
    ((props(t.Resources![fns[fn]]!).Environment as { Variables: Record<string, unknown> }).Variables);
  const only = (v: unknown) => [...referencedIds(v)][0]!;
  return {
    connections: only(env('chat')[ENV.connectionsTable]),
    chat: only(env('chat')[ENV.chatTable]),
    users: only(env('chat')[ENV.usersTable]),
  };
}

/** Every statement of the policies attached to a function's role. */
function statementsOf(t: CfnTemplate, fn: FunctionName): Statement[] {
  const lambda = t.Resources![functionIds(t)[fn]]!;
  const roleId = [...referencedIds(props(lambda).Role)][0]!;
  return resources(t, 'AWS::IAM::Policy')
    .filter(([, p]) => referencedIds(props(p).Roles).has(roleId))
    .flatMap(([, p]) => (props(p).PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (s: Statement): string[] => [s.Action].flat();

const replicasOf = (t: CfnTemplate, id: string): Record<string, unknown>[] => props(t.Resources![id]!).Replicas as Record<string, unknown>[];

/** A function's environment variables. */
const envOf = (t: CfnTemplate, fn: FunctionName): Record<string, unknown> =>
  (props(t.Resources![functionIds(t)[fn]]!).Environment as { Variables: Record<string, unknown> }).Variables;

/** Renders Fn::Join / Ref / GetAtt into a readable string: {Ref: X} -> <X>, GetAtt -> <X.Attr>. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(render).join(',');
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Ref' in o) return `<${String(o.Ref)}>`;
    if ('Fn::GetAtt' in o) return `<${[o['Fn::GetAtt']].flat().join('.')}>`;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(sep);
    }
  }
  return JSON.stringify(value);
}

// ------------------------------------------------------------------ placement

describe('stack placement', () => {
  it('has no circular dependency between nested stacks (sandbox, branch, preview)', () => {
    for (const s of Object.values(synths)) expect(nestedStackCycles(s.assembly.root)).toEqual([]);
  });

  it('keeps the functions, tables and API in one nested stack that only reads from auth', () => {
    const { realtime, assembly } = synths.sandbox;
    expect(Object.keys(functionIds(realtime)).sort()).toEqual([...FUNCTIONS].sort());
    expect(resources(realtime, 'AWS::DynamoDB::GlobalTable')).toHaveLength(TABLES.length);
    const nested = resources(assembly.root, 'AWS::CloudFormation::Stack');
    const realtimeStackId = nested.find(([, r]) =>
      Object.keys((props(r).Parameters as object | undefined) ?? {}).some((p) => p.includes('amplifyAuth')),
    )?.[0];
    expect(realtimeStackId).toBeDefined();
    // The auth stack takes no parameters from the realtime stack.
    for (const [id, r] of nested) if (id !== realtimeStackId) expect(referencedIds(props(r))).not.toContain(realtimeStackId);
  });
});

// ------------------------------------------------------------------ API

describe('WebSocket API', () => {
  it('routes on $request.body.action', () => {
    Template.fromJSON(synths.sandbox.realtime).hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('sends $connect/$disconnect to their functions and everything else to chat', () => {
    const t = synths.sandbox.realtime;
    const fns = functionIds(t);
    const fnOfIntegration = (integrationId: string): FunctionName | undefined => {
      const uri = referencedIds(props(t.Resources![integrationId]!).IntegrationUri);
      return FUNCTIONS.find((f) => uri.has(fns[f]));
    };
    const routes = Object.fromEntries(
      resources(t, 'AWS::ApiGatewayV2::Route').map(([, r]) => {
        const integrationId = [...referencedIds(props(r).Target)].find((id) => t.Resources![id]?.Type === 'AWS::ApiGatewayV2::Integration')!;
        return [props(r).RouteKey as string, { fn: fnOfIntegration(integrationId), auth: props(r).AuthorizationType }];
      }),
    );
    const expected: Record<string, { fn: FunctionName; auth: string }> = {
      $connect: { fn: 'connect', auth: 'CUSTOM' },
      $disconnect: { fn: 'disconnect', auth: 'NONE' },
      $default: { fn: 'chat', auth: 'NONE' },
      ...Object.fromEntries(ACTIONS.map((a) => [a, { fn: 'chat' as const, auth: 'NONE' }])),
    };
    expect(routes).toEqual(expected);
    expect(ACTIONS).toEqual(expect.arrayContaining(['sendmessage', 'joinroom', 'leaveroom', 'createroom', 'listrooms', 'history', 'typing', 'ping']));
  });

  it('authorizes $connect with a REQUEST authorizer on the token query parameter', () => {
    const t = synths.sandbox.realtime;
    const [[authorizerId, authorizer]] = resources(t, 'AWS::ApiGatewayV2::Authorizer') as [[string, Resource]];
    expect(props(authorizer)).toMatchObject({ AuthorizerType: 'REQUEST', IdentitySource: [TOKEN_IDENTITY_SOURCE] });
    expect(referencedIds(props(authorizer).AuthorizerUri)).toContain(functionIds(t).authorizer);
    const connect = resources(t, 'AWS::ApiGatewayV2::Route').find(([, r]) => props(r).RouteKey === '$connect')![1];
    expect(referencedIds(props(connect).AuthorizerId)).toContain(authorizerId);
  });

  it(`deploys stage "${STAGE_NAME}" with throttling, in every variant`, () => {
    for (const { realtime: t } of Object.values(synths)) {
      const [[, stage]] = resources(t, 'AWS::ApiGatewayV2::Stage') as [[string, Resource]];
      expect(props(stage)).toMatchObject({
        StageName: 'production',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: STAGE_THROTTLE.rateLimit, ThrottlingBurstLimit: STAGE_THROTTLE.burstLimit },
      });
    }
  });

  it('writes token-free JSON access logs when opted in (branch synth)', () => {
    const t = synths.branch.realtime;
    const [[, stage]] = resources(t, 'AWS::ApiGatewayV2::Stage') as [[string, Resource]];
    const logs = props(stage).AccessLogSettings as { DestinationArn: unknown; Format: string };
    const destination = [...referencedIds(logs.DestinationArn)][0]!;
    expect(t.Resources![destination]).toMatchObject({ Type: 'AWS::Logs::LogGroup', DeletionPolicy: 'Retain', Properties: { RetentionInDays: 90 } });
    const format = JSON.parse(logs.Format) as Record<string, string>;
    expect(format).toEqual(ACCESS_LOG_FIELDS);
    for (const v of [
      '$context.requestId',
      '$context.identity.sourceIp',
      '$context.requestTime',
      '$context.routeKey',
      '$context.status',
      '$context.connectionId',
      '$context.eventType',
      '$context.error.message',
      '$context.integrationLatency',
    ]) {
      expect(Object.values(format)).toContain(v);
    }
    // The ID token travels in the query string: it must never reach the logs.
    expect(logs.Format).not.toMatch(/querystring|\$input|\$request|token/i);
  });

  it('leaves access logs off unless opted in (sandbox, preview), so a deploy never needs the account role', () => {
    for (const { realtime: t } of [synths.sandbox, synths.preview]) {
      const [[, stage]] = resources(t, 'AWS::ApiGatewayV2::Stage') as [[string, Resource]];
      expect(props(stage).AccessLogSettings).toBeUndefined();
      // The only log groups left are the functions' own.
      const fnLogGroups = new Set(
        resources(t, 'AWS::Lambda::Function').flatMap(([, r]) => [...referencedIds((props(r).LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup)]),
      );
      for (const [id] of resources(t, 'AWS::Logs::LogGroup')) expect(fnLogGroups, id).toContain(id);
    }
    // synth-lib sets the opt-in by the names the construct reads.
    expect([SYNTH_ACCESS_LOGS_ENV, SYNTH_ACCESS_LOGS_CONTEXT]).toEqual([ACCESS_LOGS_ENV, ACCESS_LOGS_CONTEXT]);
  });

  it('never sets the account-wide API Gateway CloudWatch role: no AWS::ApiGateway::Account in any template of any variant', () => {
    for (const [variant, s] of Object.entries(synths)) {
      for (const t of s.assembly.all) {
        expect(resources(t, 'AWS::ApiGateway::Account'), variant).toEqual([]);
        // Nor a role for API Gateway to push logs with, which only that setting would use.
        const apigwRoles = resources(t, 'AWS::IAM::Role').filter(([, r]) => JSON.stringify(props(r).AssumeRolePolicyDocument).includes('apigateway.amazonaws.com'));
        expect(apigwRoles.map(([id]) => id), variant).toEqual([]);
      }
    }
  });
});

// ------------------------------------------------------------------ tables

describe('DynamoDB tables', () => {
  it.each(TABLES.map((s) => [s.id, s] as const))('%s matches its shape in tables.ts', (id, shape) => {
    const t = synths.sandbox.realtime;
    const table = props(t.Resources![tableIds(t)[id]]!);
    const attrs = new Set([shape.partitionKey, shape.sortKey, ...shape.globalSecondaryIndexes.flatMap((g) => [g.partitionKey, g.sortKey])]);
    expect(table).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: shape.partitionKey, KeyType: 'HASH' },
        { AttributeName: shape.sortKey, KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: shape.ttlAttribute, Enabled: true },
    });
    const replicas = table.Replicas as Record<string, unknown>[];
    expect(replicas).toHaveLength(shape.global ? REGIONS.length : 1);
    for (const r of replicas) expect(r).toMatchObject({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
    expect(table.AttributeDefinitions).toEqual([...attrs].map((a) => ({ AttributeName: a, AttributeType: 'S' })));
    const gsis = (table.GlobalSecondaryIndexes as unknown[] | undefined) ?? [];
    expect(gsis).toEqual(
      shape.globalSecondaryIndexes.map((g) => ({
        IndexName: g.indexName,
        KeySchema: [
          { AttributeName: g.partitionKey, KeyType: 'HASH' },
          { AttributeName: g.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: g.projection },
      })),
    );
  });

  it('destroys sandbox tables without deletion protection', () => {
    const t = synths.sandbox.realtime;
    for (const id of TABLES.map((shape) => tableIds(t)[shape.id])) {
      expect(t.Resources![id]).toMatchObject({ DeletionPolicy: 'Delete' });
      for (const r of replicasOf(t, id)) expect(r).toMatchObject({ DeletionProtectionEnabled: false });
    }
  });

  it('treats pull-request previews as throw-away, like sandboxes', () => {
    const t = synths.preview.realtime;
    for (const id of TABLES.map((shape) => tableIds(t)[shape.id])) {
      expect(t.Resources![id]).toMatchObject({ DeletionPolicy: 'Delete' });
      for (const r of replicasOf(t, id)) expect(r).toMatchObject({ DeletionProtectionEnabled: false });
    }
  });

  it('retains branch tables with deletion protection', () => {
    const t = synths.branch.realtime;
    for (const id of TABLES.map((shape) => tableIds(t)[shape.id])) {
      expect(t.Resources![id]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      for (const r of replicasOf(t, id)) expect(r).toMatchObject({ DeletionProtectionEnabled: true });
    }
  });
});

// ------------------------------------------------------------------ IAM + env

describe('least privilege', () => {
  it('grants no service-wide wildcard action anywhere', () => {
    for (const s of Object.values(synths)) {
      for (const t of s.assembly.all) {
        for (const [, p] of resources(t, 'AWS::IAM::Policy')) {
          for (const st of (props(p).PolicyDocument as { Statement: Statement[] }).Statement) {
            for (const a of actionsOf(st)) expect(a).not.toMatch(/^\*$|:\*$/);
          }
        }
      }
    }
  });

  it.each(FUNCTIONS)('%s gets exactly the table actions of permissions.ts', (fn) => {
    const t = synths.sandbox.realtime;
    const tables = tableIds(t);
    // The stream reads are the event source mapping's (checked with it below), not the handler's.
    const dynamo = statementsOf(t, fn).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('dynamodb:') && !(STREAM_READ_ACTIONS as readonly string[]).includes(a)),
    );
    const access = FUNCTION_ACCESS[fn].tables;
    expect(dynamo).toHaveLength(Object.keys(access).length);
    for (const shape of TABLES) {
      const wanted = access[shape.id];
      const tableRef = `<${tables[shape.id]}.Arn>`;
      const st = dynamo.find((s) => [s.Resource].flat().some((r) => render(r) === tableRef));
      if (!wanted) {
        expect(st).toBeUndefined();
        continue;
      }
      expect(st, `${fn} on ${shape.id}`).toBeDefined();
      expect(actionsOf(st!).sort()).toEqual([...wanted].sort());
      const withIndexes = shape.globalSecondaryIndexes.length > 0 && wanted.includes('dynamodb:Query');
      expect([st!.Resource].flat().map(render).sort()).toEqual(withIndexes ? [tableRef, `${tableRef}/index/*`] : [tableRef]);
    }
  });

  it.each(FUNCTIONS)('%s may call exactly the @connections methods of permissions.ts, on the production stage', (fn) => {
    const t = synths.sandbox.realtime;
    const [[apiId]] = resources(t, 'AWS::ApiGatewayV2::Api') as [[string, Resource]];
    const manage = statementsOf(t, fn).filter((s) => actionsOf(s).some((a) => a.startsWith('execute-api:')));
    const methods = FUNCTION_ACCESS[fn].manageConnections;
    if (methods.length === 0) {
      expect(manage).toEqual([]);
      return;
    }
    expect(manage).toHaveLength(1);
    expect(actionsOf(manage[0]!)).toEqual(['execute-api:ManageConnections']);
    expect([manage[0]!.Resource].flat().map(render).sort()).toEqual(
      methods.map((m) => `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiId}>/production/${m}/@connections/*`).sort(),
    );
  });

  it('gives each function its own role, scoped to its own log group, with no managed policies', () => {
    const t = synths.sandbox.realtime;
    const roles = new Set<string>();
    for (const fn of FUNCTIONS) {
      const lambda = props(t.Resources![functionIds(t)[fn]]!);
      const roleId = [...referencedIds(lambda.Role)][0]!;
      roles.add(roleId);
      expect(props(t.Resources![roleId]!).ManagedPolicyArns).toBeUndefined();
      const logGroup = [...referencedIds((lambda.LoggingConfig as { LogGroup: unknown }).LogGroup)][0];
      const logs = statementsOf(t, fn).filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
      expect(logs.map((s) => render(s.Resource))).toEqual([`<${logGroup}.Arn>`]);
    }
    expect(roles.size).toBe(FUNCTIONS.length);
  });

  it('hands every table-using function every table name (env names from tables.ts)', () => {
    const t = synths.sandbox.realtime;
    const tables = tableIds(t);
    for (const fn of FUNCTIONS) {
      const vars = (props(t.Resources![functionIds(t)[fn]]!).Environment as { Variables: Record<string, unknown> }).Variables;
      // core/config.ts requires both names at cold start; IAM, not the env, limits access.
      const usesTables = Object.keys(FUNCTION_ACCESS[fn].tables).length > 0;
      expect(vars[ENV.connectionsTable] && render(vars[ENV.connectionsTable]), fn).toBe(usesTables ? `<${tables.connections}>` : undefined);
      expect(vars[ENV.chatTable] && render(vars[ENV.chatTable]), fn).toBe(usesTables ? `<${tables.chat}>` : undefined);
    }
    const authorizerVars = (props(t.Resources![functionIds(t).authorizer]!).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(render(authorizerVars[ENV.userPoolId])).toMatch(/UserPool(?!AppClient).*Ref>$/);
    expect(render(authorizerVars[ENV.userPoolClientId])).toMatch(/UserPoolAppClient.*Ref>$/);
  });

  it('sizes the functions within Lambda and API Gateway limits', () => {
    const t = synths.sandbox.realtime;
    for (const fn of FUNCTIONS) {
      const p = props(t.Resources![functionIds(t)[fn]]!);
      expect(p).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      expect(p.MemorySize as number).toBeGreaterThanOrEqual(256);
      // API Gateway gives up on an integration after 29 s.
      expect(p.Timeout as number).toBeLessThanOrEqual(29);
    }
  });
});

// ------------------------------------------------------------------ auth

describe('auth', () => {
  it('lets the app client use only SRP and refresh tokens (USER_PASSWORD_AUTH is local mode only), in every variant', () => {
    for (const [variant, s] of Object.entries(synths)) {
      const clients = Object.values(Template.fromJSON(s.auth).findResources('AWS::Cognito::UserPoolClient')) as Resource[];
      expect(clients, variant).toHaveLength(1);
      expect([...(props(clients[0]!).ExplicitAuthFlows as string[])].sort(), variant).toEqual(['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH']);
    }
  });

  it('signs in with email, requires an immutable preferred_username and claims it in a Pre sign-up trigger', () => {
    const auth = Template.fromJSON(synths.sandbox.auth);
    auth.hasResourceProperties('AWS::Cognito::UserPool', {
      UsernameAttributes: ['email'],
      Schema: Match.arrayWith([Match.objectLike({ Name: 'preferred_username', Required: true, Mutable: false })]),
      LambdaConfig: Match.objectLike({ PreSignUp: Match.anyValue() }),
    });
    auth.hasResourceProperties('AWS::Cognito::IdentityPool', { AllowUnauthenticatedIdentities: false });
  });

  it('keeps the name registry beside the pool, writable by the Pre sign-up trigger alone and only with PutItem', () => {
    const auth = synths.sandbox.auth;
    const tables = Object.entries(auth.Resources ?? {}).filter(([, r]) => r.Type === 'AWS::DynamoDB::GlobalTable');
    expect(tables).toHaveLength(1);
    const [usersId] = tables[0]!;
    const statements = Object.values(auth.Resources ?? {})
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => (props(r).PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement)
      .filter((s) => JSON.stringify(s.Resource).includes(usersId));
    expect(statements.map((s) => s.Action)).toEqual(['dynamodb:PutItem']);
    // The realtime stack reads it through the authorizer (GetItem) and chat (BatchGetItem), by name from env.
    const realtime = synths.sandbox.realtime;
    for (const fn of ['authorizer', 'chat'] as const) {
      const vars = (props(realtime.Resources![functionIds(realtime)[fn]]!).Environment as { Variables: Record<string, unknown> }).Variables;
      expect(vars[ENV.usersTable], fn).toBeDefined();
    }
  });
});

// ------------------------------------------------------------------ outputs

describe('amplify_outputs.json custom section', () => {
  it('publishes custom.websocketUrl and custom.region from the root stack', () => {
    const { root } = synths.sandbox.assembly;
    expect((root.Metadata?.['AWS::Amplify::Custom'] as { stackOutputs: string[] }).stackOutputs).toContain('customOutputs');
    const json = render(root.Outputs?.customOutputs?.Value);
    const parsed = JSON.parse(json) as { custom: { websocketUrl: string; region: string } };
    expect(parsed.custom.websocketUrl).toMatch(
      /^wss:\/\/<[A-Za-z0-9]+\.Outputs\.[A-Za-z0-9]+>\.execute-api\.<AWS::Region>\.<AWS::URLSuffix>\/production$/,
    );
    expect(parsed.custom.region).toBe('<AWS::Region>');
  });
});

// ------------------------------------------------------------------ bundles

describe('Lambda bundles', () => {
  it(`keeps every handler under ${kb(BUNDLE_BUDGET_BYTES)} minified`, () => {
    console.info(bundles.map((b) => `${b.name}: ${kb(b.codeBytes)} code, ${kb(b.totalBytes)} with source map`).join('\n'));
    expect(bundles.map((b) => b.name).sort()).toEqual([...FUNCTIONS, 'preSignUp'].sort());
    for (const b of bundles) expect(b.codeBytes, b.name).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
  });

  it('leaves only SDK packages that the Lambda Node.js runtime ships to the runtime', () => {
    // A new import outside this list (e.g. @aws-sdk/util-retry) may not exist in
    // the runtime: check the Lambda docs, then extend the list or bundle it.
    for (const b of bundles) {
      // util-dynamodb (fanout's unmarshall) ships with lib-dynamodb, which depends on it.
      for (const m of b.runtimeImports) expect(m, b.name).toMatch(/^@aws-sdk\/(client-[a-z0-9-]+|lib-dynamodb|util-dynamodb)$/);
    }
  });
});

// ------------------------------------------------------------------ validation

describe('CDK validation', () => {
  it('uses a feature flag this aws-cdk-lib knows', () => {
    expect(cxapi.FLAGS[cxapi.VALIDATE_AGAINST_DEFAULT_RULES]).toBeDefined();
  });

  it.each(['sandbox', 'branch', 'preview'] as const)('%s: validation-report.json has no findings and cdk-nag ran', (type) => {
    const { outdir } = synths[type];
    expect(validationFindings(outdir)).toEqual([]);
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; conclusion: string; suppressedViolations?: { ruleName: string; reason?: string }[] }[];
    };
    const nag = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
    expect(nag?.conclusion).toBe('success');
    // Every acknowledgment carries a written reason.
    for (const v of nag?.suppressedViolations ?? []) expect(v.reason?.length ?? 0, v.ruleName).toBeGreaterThan(40);
  });
});

// ------------------------------------------------------------------ global tables (primary)

describe('global tables', () => {
  const globalTables = (s: Synth): [string, CfnTemplate][] => [
    [tableIds(s.realtime).chat, s.realtime],
    [Object.entries(s.auth.Resources ?? {}).find(([, r]) => r.Type === 'AWS::DynamoDB::GlobalTable')![0], s.auth],
  ];

  it.each(['sandbox', 'branch'] as const)('%s: chat and users replicate to exactly REGIONS, primary first, with NEW_AND_OLD_IMAGES streams', (variant) => {
    for (const [id, t] of globalTables(synths[variant])) {
      expect(replicasOf(t, id).map((r) => r.Region), id).toEqual([...REGIONS]);
      expect(props(t.Resources![id]!).StreamSpecification, id).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    }
    // connections stays regional: a connection id means nothing at another region's API.
    const t = synths[variant].realtime;
    expect(replicasOf(t, tableIds(t).connections).map((r) => render(r.Region))).toEqual(['<AWS::Region>']);
  });

  it('gives every replica the settings of the first (PITR, GSIs, deletion protection, tags)', () => {
    for (const [id, t] of globalTables(synths.branch)) {
      const [first, ...rest] = replicasOf(t, id);
      for (const r of rest) expect({ ...r, Region: first!.Region }).toEqual(first);
    }
  });

  it('keeps a pull-request preview in one region (nothing would delete its secondary stacks), streams still on', () => {
    const s = synths.preview;
    for (const [id, t] of globalTables(s)) {
      expect(replicasOf(t, id).map((r) => render(r.Region)), id).toEqual(['<AWS::Region>']);
      expect(props(t.Resources![id]!).StreamSpecification, id).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    }
    expect(JSON.parse(envOf(s.realtime, 'chat')[ENV.regions] as string)).toEqual({});
    const invokes = statementsOf(s.realtime, 'chat').filter((st) => actionsOf(st).some((a) => a.startsWith('lambda:')));
    expect(invokes).toEqual([]);
  });
});

// ------------------------------------------------------------------ multi-region wiring (primary)

const homeArn = (region: string, name: string) => `arn:<AWS::Partition>:lambda:${region}:<AWS::AccountId>:function:${name}`;

describe('multi-region wiring in the primary', () => {
  it('names the home function deterministically, within Lambda limits', () => {
    const t = synths.sandbox.realtime;
    const name = props(t.Resources![functionIds(t).home]!).FunctionName as string;
    expect(name).toBe(homeFunctionName(SANDBOX_DEPLOYMENT));
    expect(name.length).toBeLessThanOrEqual(FUNCTION_NAME_MAX);
    // Only home has a fixed name: the rest keep CloudFormation's (no replacement of deployed functions).
    for (const fn of FUNCTIONS.filter((f) => f !== 'home')) expect(props(t.Resources![functionIds(t)[fn]]!).FunctionName, fn).toBeUndefined();
  });

  it("lets chat invoke exactly the other regions' home functions, and no function anything else in Lambda", () => {
    const t = synths.sandbox.realtime;
    for (const fn of FUNCTIONS) {
      const invokes = statementsOf(t, fn).filter((st) => actionsOf(st).some((a) => a.startsWith('lambda:')));
      if (!(INVOKES_OTHER_HOMES as readonly string[]).includes(fn)) {
        expect(invokes, fn).toEqual([]);
        continue;
      }
      expect(invokes).toHaveLength(1);
      expect(actionsOf(invokes[0]!)).toEqual(['lambda:InvokeFunction']);
      expect([invokes[0]!.Resource].flat().map(render).sort()).toEqual(
        REGIONS.slice(1).map((r) => homeArn(r, homeFunctionName(SANDBOX_DEPLOYMENT))).sort(),
      );
    }
  });

  it('tells the region-aware functions the primary and the other regions, and home and fanout the callback URL', () => {
    const t = synths.sandbox.realtime;
    const [[apiId]] = resources(t, 'AWS::ApiGatewayV2::Api') as [[string, Resource]];
    for (const fn of FUNCTIONS) {
      const vars = envOf(t, fn);
      const aware = (REGION_AWARE as readonly string[]).includes(fn);
      expect(vars[ENV.primaryRegion] && render(vars[ENV.primaryRegion]), fn).toBe(aware ? '<AWS::Region>' : undefined);
      expect(vars[ENV.regions] && JSON.parse(vars[ENV.regions] as string), fn).toEqual(
        aware ? Object.fromEntries(REGIONS.slice(1).map((r) => [r, { homeFunction: homeFunctionName(SANDBOX_DEPLOYMENT) }])) : undefined,
      );
      const callback = (USES_CALLBACK_URL as readonly string[]).includes(fn);
      expect(vars[ENV.callbackUrl] && render(vars[ENV.callbackUrl]), fn).toBe(
        callback ? `https://<${apiId}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/production` : undefined,
      );
    }
  });

  it("triggers fanout from the chat table's stream, filtered by fanoutStreamFilter, with bounded retries", () => {
    const t = synths.sandbox.realtime;
    const [[, esm], ...others] = resources(t, 'AWS::Lambda::EventSourceMapping') as [[string, Resource]];
    expect(others).toEqual([]);
    const p = props(esm);
    expect(render(p.FunctionName)).toBe(`<${functionIds(t).fanout}>`);
    expect(render(p.EventSourceArn)).toBe(`<${tableIds(t).chat}.StreamArn>`);
    expect(p).toMatchObject({
      StartingPosition: 'LATEST',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: FANOUT_STREAM.retryAttempts,
      MaximumRecordAgeInSeconds: FANOUT_STREAM.maxRecordAgeSeconds,
    });
    const [filter] = (p.FilterCriteria as { Filters: { Pattern: unknown }[] }).Filters;
    // The region is the stack's own (a token in the region-agnostic primary).
    expect(JSON.parse(render(filter!.Pattern))).toEqual(fanoutStreamFilter('<AWS::Region>'));
    const reads = statementsOf(t, 'fanout').filter((st) => actionsOf(st).some((a) => (STREAM_READ_ACTIONS as readonly string[]).includes(a)));
    expect(reads).toHaveLength(1);
    expect(actionsOf(reads[0]!).sort()).toEqual([...STREAM_READ_ACTIONS].sort());
    expect(render(reads[0]!.Resource)).toBe(`<${tableIds(t).chat}.StreamArn>`);
  });

  it('publishes custom.regions (the primary first) and custom.deployment for the secondary stacks', () => {
    const parsed = JSON.parse(render(synths.sandbox.assembly.root.Outputs?.customOutputs?.Value)) as {
      custom: { websocketUrl: string; regions: { region: string; websocketUrl: string }[]; deployment: { id: string; regions: string[]; tables: Record<string, string> } };
    };
    expect(parsed.custom.regions).toEqual([{ region: '<AWS::Region>', websocketUrl: parsed.custom.websocketUrl }]);
    expect(parsed.custom.deployment).toMatchObject({ id: SANDBOX_DEPLOYMENT, regions: [...REGIONS], ephemeral: true });
    expect(Object.keys(parsed.custom.deployment.tables).sort()).toEqual(['chat', 'users']);
  });
});

// ------------------------------------------------------------------ secondary regions

describe('secondary regions (amplify/regions/app.ts)', () => {
  const secondaries = fixture.deployment.regions.slice(1);
  const stackOf = (region: string): CfnTemplate => secondary.stacks[secondaryStackName(fixture.deployment.id, region)]!;

  it('synthesizes one stack per region after the primary', () => {
    expect(Object.keys(secondary.stacks).sort()).toEqual(secondaries.map((r) => secondaryStackName(fixture.deployment.id, r)).sort());
  });

  it.each(secondaries)('%s: validation-report.json has no findings and cdk-nag ran', () => {
    expect(validationFindings(secondary.outdir)).toEqual([]);
    const report = JSON.parse(readFileSync(join(secondary.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; conclusion: string; suppressedViolations?: { ruleName: string; reason?: string }[] }[];
    };
    const nag = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
    expect(nag?.conclusion).toBe('success');
    for (const v of nag?.suppressedViolations ?? []) expect(v.reason?.length ?? 0, v.ruleName).toBeGreaterThan(40);
  });

  it.each(secondaries)('%s: the same API: $request.body.action, stage production, a REQUEST authorizer on the token', (region) => {
    const t = stackOf(region);
    const api = Template.fromJSON(t);
    api.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
    api.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: STAGE_NAME, AutoDeploy: true });
    api.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'REQUEST', IdentitySource: [TOKEN_IDENTITY_SOURCE] });
    const keys = resources(t, 'AWS::ApiGatewayV2::Route').map(([, r]) => props(r).RouteKey as string).sort();
    expect(keys).toEqual(['$connect', '$default', '$disconnect', ...ACTIONS].sort());
    expect(render(t.Outputs?.WebSocketUrl?.Value)).toMatch(new RegExp(`^wss://<[A-Za-z0-9]+>\\.execute-api\\.${region}\\.<AWS::URLSuffix>/production$`));
  });

  it.each(secondaries)("%s: verifies the primary's tokens and uses the primary's tables by name, with its own connections table", (region) => {
    const t = stackOf(region);
    expect(Object.keys(functionIds(t)).sort()).toEqual([...FUNCTIONS].sort());
    expect(envOf(t, 'authorizer')).toMatchObject({ [ENV.userPoolId]: fixture.userPoolId, [ENV.userPoolClientId]: fixture.userPoolClientId });
    for (const fn of FUNCTIONS.filter((f) => Object.keys(FUNCTION_ACCESS[f].tables).length > 0)) {
      expect(envOf(t, fn), fn).toMatchObject({ [ENV.chatTable]: fixture.deployment.tables.chat, [ENV.usersTable]: fixture.deployment.tables.users });
    }
    // Only connections is created here; the chat and users replicas are the primary's.
    const tables = resources(t, 'AWS::DynamoDB::GlobalTable');
    expect(tables).toHaveLength(1);
    expect(render(envOf(t, 'chat')[ENV.connectionsTable])).toBe(`<${tables[0]![0]}>`);
    expect(replicasOf(t, tables[0]![0]).map((r) => r.Region)).toEqual([region]);
  });

  it.each(secondaries)("%s: fanout reads this region's replica stream, filtered for this region", (region) => {
    const t = stackOf(region);
    const [[, esm], ...others] = resources(t, 'AWS::Lambda::EventSourceMapping') as [[string, Resource]];
    expect(others).toEqual([]);
    const p = props(esm);
    expect(render(p.FunctionName)).toBe(`<${functionIds(t).fanout}>`);
    expect(p).toMatchObject({ StartingPosition: 'LATEST', FunctionResponseTypes: ['ReportBatchItemFailures'], BisectBatchOnFunctionError: true });
    const [filter] = (p.FilterCriteria as { Filters: { Pattern: string }[] }).Filters;
    expect(JSON.parse(filter!.Pattern)).toEqual(fanoutStreamFilter(region));
    // The stream ARN is the replica's own, read by DescribeTable of the chat table in this region.
    const lookupId = [...referencedIds(p.EventSourceArn)][0]!;
    const lookup = t.Resources![lookupId]!;
    expect(lookup.Type).toBe('Custom::AWS');
    for (const phase of ['Create', 'Update']) {
      expect(JSON.parse(props(lookup)[phase] as string)).toMatchObject({
        service: 'DynamoDB',
        action: 'describeTable',
        parameters: { TableName: fixture.deployment.tables.chat },
      });
    }
    const lookupStatements = resources(t, 'AWS::IAM::Policy')
      .filter(([id]) => [lookup.DependsOn ?? []].flat().includes(id))
      .flatMap(([, pol]) => (props(pol).PolicyDocument as { Statement: Statement[] }).Statement);
    expect(lookupStatements.map((st) => [actionsOf(st), render(st.Resource)])).toEqual([
      [['dynamodb:DescribeTable'], `arn:<AWS::Partition>:dynamodb:${region}:<AWS::AccountId>:table/${fixture.deployment.tables.chat}`],
    ]);
  });

  it.each(secondaries)("%s: home under the shared name; chat may invoke exactly the other regions' homes", (region) => {
    const t = stackOf(region);
    const name = homeFunctionName(fixture.deployment.id);
    expect(props(t.Resources![functionIds(t).home]!).FunctionName).toBe(name);
    const others = fixture.deployment.regions.filter((r) => r !== region);
    const invokes = statementsOf(t, 'chat').filter((st) => actionsOf(st).includes('lambda:InvokeFunction'));
    expect(invokes.flatMap((st) => [st.Resource].flat().map(render)).sort()).toEqual(others.map((r) => homeArn(r, name)).sort());
    expect(JSON.parse(envOf(t, 'chat')[ENV.regions] as string)).toEqual(Object.fromEntries(others.map((r) => [r, { homeFunction: name }])));
    expect(envOf(t, 'chat')[ENV.primaryRegion]).toBe(fixture.primaryRegion);
  });

  it.each(secondaries)('%s: each function gets exactly the table and @connections grants of permissions.ts', (region) => {
    const t = stackOf(region);
    const tableArn = (id: TableShape['id']) =>
      id === 'connections'
        ? `<${resources(t, 'AWS::DynamoDB::GlobalTable')[0]![0]}.Arn>`
        : `arn:<AWS::Partition>:dynamodb:${region}:<AWS::AccountId>:table/${fixture.deployment.tables[id]}`;
    const [[apiId]] = resources(t, 'AWS::ApiGatewayV2::Api') as [[string, Resource]];
    for (const fn of FUNCTIONS) {
      const statements = statementsOf(t, fn);
      const dynamo = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('dynamodb:') && !(STREAM_READ_ACTIONS as readonly string[]).includes(a)));
      const access = FUNCTION_ACCESS[fn];
      expect(dynamo.map((st) => [render([st.Resource].flat()[0]), actionsOf(st).sort()]).sort(), fn).toEqual(
        Object.entries(access.tables).map(([id, actions]) => [tableArn(id as TableShape['id']), [...actions!].sort()]).sort(),
      );
      const manage = statements.filter((st) => actionsOf(st).includes('execute-api:ManageConnections'));
      expect(manage.flatMap((st) => [st.Resource].flat().map(render)).sort(), fn).toEqual(
        access.manageConnections.map((m) => `arn:<AWS::Partition>:execute-api:${region}:<AWS::AccountId>:<${apiId}>/production/${m}/@connections/*`).sort(),
      );
    }
  });

  it(`keeps every secondary handler under ${kb(BUNDLE_BUDGET_BYTES)} minified, with only runtime SDK imports`, () => {
    expect(secondary.bundles.map((b) => b.name).sort()).toEqual(secondaries.flatMap(() => FUNCTIONS).sort());
    for (const b of secondary.bundles) {
      expect(b.codeBytes, b.name).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
      for (const m of b.runtimeImports) expect(m, b.name).toMatch(/^@aws-sdk\/(client-[a-z0-9-]+|lib-dynamodb|util-dynamodb)$/);
    }
  });
});

// ------------------------------------------------------------------ wildcards, every template

describe('no wildcard beyond today', () => {
  it('grants no wildcard action, and wildcard resources only on @connections and the chat GSIs, in every region', () => {
    const templates = [...Object.values(synths).map((s) => s.realtime), ...Object.values(secondary.stacks)];
    for (const t of templates) {
      for (const fn of FUNCTIONS) {
        for (const st of statementsOf(t, fn)) {
          for (const a of actionsOf(st)) expect(a, fn).not.toMatch(/\*/);
          for (const r of [st.Resource].flat().map(render)) {
            if (r.includes('*')) expect(r, fn).toMatch(/(\/@connections\/\*|\/index\/\*)$/);
          }
        }
      }
    }
  });
});
