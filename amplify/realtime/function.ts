/**
 * One way to define Parley's Lambda functions, used by every
 * amplify/functions/<name>/resource.ts.
 *
 * Why not `defineFunction({ entry, memoryMB, ... })`: its bundler always
 * inlines the AWS SDK (bundleAwsSDK: true, and `externalModules` is only
 * fed from `layers`), which made a DynamoDB + @connections handler 2.2 MB.
 * The Node.js Lambda runtimes ship SDK v3, so the provider form of
 * defineFunction, Amplify's documented "custom function" escape hatch, lets
 * us keep `@aws-sdk/*` and `@smithy/*` external and land in tens of KB,
 * which also shortens cold starts. The function still is an Amplify
 * function: `backend.<name>.addEnvironment()` and `resources.lambda` work.
 *
 * Trade-off: the runtime's SDK version is whatever Lambda ships (recent v3,
 * updated by AWS), not the one in package-lock.json. The handlers only use
 * long-stable DynamoDB / ApiGatewayManagementApi calls, so that is fine.
 */
import { defineFunction } from '@aws-amplify/backend';
import { Duration, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionName } from './permissions';

/**
 * All the realtime functions share one nested stack with the tables and the API
 * (see backend.ts): with the functions in Amplify's default "function" stack
 * and the API in a custom stack, each would reference the other: a cycle.
 */
export const REALTIME_RESOURCE_GROUP = 'realtime';

/** Modules resolved from the Lambda runtime instead of the bundle. */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*', '@smithy/*'];

/** Node 22: active LTS in Lambda until 2027 and close to the Node 20 used for local mode. */
export const LAMBDA_RUNTIME = Runtime.NODEJS_22_X;

export interface RealtimeFunctionProps {
  name: FunctionName | 'preSignUp';
  /** Absolute path of the handler file. */
  entry: string;
  description: string;
  memoryMB: number;
  timeoutSeconds: number;
  /** Set at deploy time; construct.ts adds table names and the like with addEnvironment. */
  environment?: Readonly<Record<string, string>>;
  /**
   * A fixed physical name, for a function another region must name without a
   * cross-region reference (home). Unset: CloudFormation picks one.
   */
  functionName?: (scope: Construct) => string;
  /** Which nested stack: the realtime one by default; Cognito triggers go with auth. */
  resourceGroup?: typeof REALTIME_RESOURCE_GROUP | 'auth';
}

/** True for `ampx sandbox` deployments (and the offline synth's default). */
export const isSandbox = (scope: Construct): boolean =>
  scope.node.tryGetContext('amplify-backend-type') === 'sandbox';

/**
 * ESM bundles can still contain CommonJS code that calls require() on Node
 * built-ins; esbuild's shim throws unless a real `require` exists.
 */
const REQUIRE_SHIM = "import{createRequire as __parleyCreateRequire}from'node:module';const require=__parleyCreateRequire(import.meta.url);";

/** The tag every Parley function carries, in the primary and in secondary regions: its logical name. */
export const FUNCTION_TAG = 'parley:function';

/**
 * The Lambda itself, with its own log group and role. Shared by the Amplify
 * backend (through defineRealtimeFunction) and the secondary-region stacks
 * (amplify/regions/stack.ts), so every region runs the same bundle settings.
 */
export function createRealtimeLambda(scope: Construct, props: RealtimeFunctionProps, opts: { shortLogs: boolean }): NodejsFunction {
  // An explicit log group: bounded retention (the implicit one never
  // expires) and a role that may write only to it, not to every group.
  const logGroup = new LogGroup(scope, `${props.name}-logs`, {
    retention: opts.shortLogs ? RetentionDays.ONE_WEEK : RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new Role(scope, `${props.name}-role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: `Parley ${props.name} function (${Stack.of(scope).stackName})`,
  });
  logGroup.grantWrite(role);

  const fn = new NodejsFunction(scope, props.name, {
    entry: props.entry,
    handler: 'handler',
    description: props.description,
    ...(props.functionName ? { functionName: props.functionName(scope) } : {}),
    runtime: LAMBDA_RUNTIME,
    // Graviton: about 20% cheaper per GB-second; the bundle is pure JS.
    architecture: Architecture.ARM_64,
    memorySize: props.memoryMB,
    timeout: Duration.seconds(props.timeoutSeconds),
    role,
    logGroup,
    environment: { ...props.environment },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node22',
      mainFields: ['module', 'main'],
      minify: true,
      // Stack traces point at the TypeScript sources; sourcesContent off
      // keeps the map small (CDK adds NODE_OPTIONS=--enable-source-maps).
      sourceMap: true,
      sourcesContent: false,
      bundleAwsSDK: false,
      externalModules: RUNTIME_PROVIDED_MODULES,
      banner: REQUIRE_SHIM,
      logLevel: LogLevel.ERROR,
    },
  });
  Tags.of(fn).add(FUNCTION_TAG, props.name);
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions::AwsSolutions-L1',
    reason:
      'Node.js 22 is a supported Lambda runtime (deprecation in 2027) and matches the Node 20/22 toolchain of ' +
      'local mode and the tests; moving to Node 24 is a deliberate upgrade, not a default.',
  });
  return fn;
}

export function defineRealtimeFunction(props: RealtimeFunctionProps) {
  return defineFunction((scope: Construct) => createRealtimeLambda(scope, props, { shortLogs: isSandbox(scope) }), {
    resourceGroupName: props.resourceGroup ?? REALTIME_RESOURCE_GROUP,
  });
}
