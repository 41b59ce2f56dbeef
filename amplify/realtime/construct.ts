/**
 * ParleyRealtime: the DynamoDB tables, the API Gateway WebSocket API and the
 * wiring (routes, env, least-privilege IAM, the stream fan-out) around the
 * Lambda functions of one region. The primary (amplify/backend.ts) creates
 * the chat table; a secondary region (amplify/regions/stack.ts) passes in
 * its replica instead.
 *
 * It must be created in the functions' own stack (Stack.of(fn)): a separate
 * stack would reference the functions while the functions reference it back
 * (table names, API id), a circular nested-stack dependency.
 */
import { ArnFormat, Aws, type CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, Billing, type ITableV2, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { EventSourceMapping, FilterCriteria, type IFunction, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ACTIONS } from '../core/protocol';
import {
  type ConnectionsMethod,
  FUNCTION_ACCESS,
  type FunctionName,
  INVOKES_OTHER_HOMES,
  READS_CHAT_STREAM,
  REGION_AWARE,
  STREAM_READ_ACTIONS,
  USES_CALLBACK_URL,
} from './permissions';
import { ENV } from '../core/config';
import { homeFunctionName, otherRegionRoutes } from '../regions/names';
import { ALL_TABLES, CHAT_TABLE, TABLES, type TableShape } from './tables';
import { FANOUT_STREAM, fanoutStreamFilter, STAGE_NAME, TOKEN_IDENTITY_SOURCE } from './defaults';
import { GLOBAL_STREAM, makeGlobal } from './global';

// Defined in defaults.ts, which local mode shares; re-exported for the construct's users.
export { STAGE_NAME, TOKEN_IDENTITY_SOURCE };

/** Steady-state requests per second and burst for the whole stage (account default is 10000/5000). */
export const STAGE_THROTTLE = { rateLimit: 500, burstLimit: 1000 } as const;

/**
 * Access log line, JSON so CloudWatch Logs Insights can query it. The query
 * string is deliberately absent: it carries the ID token.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  status: '$context.status',
  connectionId: '$context.connectionId',
  principalId: '$context.authorizer.principalId',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
  integrationError: '$context.integration.error',
  integrationLatency: '$context.integrationLatency',
} as const;

/**
 * WebSocket stage access logs are opt-in. API Gateway writes them with the
 * account's CloudWatch role (AWS::ApiGateway::Account, one setting per
 * account and region), and a backend must never set that: it would replace
 * the role every other API Gateway API in the region logs with. Once the
 * account has the role (a one-time `aws apigateway update-account`, see the
 * README), turn access logs on with this environment variable or CDK context
 * value set to `true` (or `1`); without the role, a stage with access logs
 * fails to deploy.
 */
export const ACCESS_LOGS_ENV = 'PARLEY_WEBSOCKET_ACCESS_LOGS';
export const ACCESS_LOGS_CONTEXT = 'parley:websocketAccessLogs';

/** Whether this synth turns on WebSocket access logs (ACCESS_LOGS_ENV or ACCESS_LOGS_CONTEXT). */
export function accessLogsOptedIn(scope: Construct, env: Record<string, string | undefined> = process.env): boolean {
  const value = env[ACCESS_LOGS_ENV] ?? scope.node.tryGetContext(ACCESS_LOGS_CONTEXT);
  return value === true || (typeof value === 'string' && ['1', 'true'].includes(value.trim().toLowerCase()));
}

/** What the construct needs from an Amplify function: the Lambda and a way to set env. */
export interface RealtimeFunction {
  resources: { lambda: IFunction };
  addEnvironment(key: string, value: string): void;
}

/** Where this region stands in the deployment. */
export interface RegionPlacement {
  /** This region (a token in the region-agnostic primary). */
  region: string;
  /** The primary: the lobby's home, where room ids are claimed. */
  primaryRegion: string;
  /** Every other region of the deployment, by name: their home functions are what chat may invoke. */
  otherRegions: readonly string[];
  /** Shared by every region of one backend; names the home functions (regions/names.ts). */
  deploymentId: string;
}

export interface ParleyRealtimeProps {
  functions: Record<FunctionName, RealtimeFunction>;
  userPoolId: string;
  userPoolClientId: string;
  /** The name registry, owned by the auth stack (see amplify/auth/name-registry.ts), or its replica. */
  usersTable: ITableV2;
  placement: RegionPlacement;
  /**
   * The primary's chat table here: its replica in a secondary region, with
   * the replica's own stream ARN. Unset: this construct creates the table,
   * replicated to `replicaRegions`.
   */
  chatReplica?: { table: ITableV2; streamArn: string };
  /** Regions of the created chat table, this one first; one or none: a single-region table (with a stream). */
  replicaRegions?: readonly string[];
  /**
   * Throw-away backends (sandboxes, pull-request previews): tables and access
   * logs are destroyed with the stack and not deletion-protected.
   */
  ephemeral: boolean;
  /**
   * Stage access logs to a log group of this backend. Only once the account
   * has its API Gateway CloudWatch role (see accessLogsOptedIn); off by default.
   */
  accessLogs?: boolean;
}

export class ParleyRealtime extends Construct {
  readonly tables: Record<TableShape['id'], ITableV2>;
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  /** wss://<apiId>.execute-api.<region>.amazonaws.com/production */
  readonly websocketUrl: string;
  /** The fanout function's trigger on this region's chat stream. */
  readonly fanoutTrigger: EventSourceMapping;
  private readonly functions: Record<FunctionName, RealtimeFunction>;

  constructor(scope: Construct, id: string, props: ParleyRealtimeProps) {
    super(scope, id);
    const { functions, ephemeral } = props;
    this.functions = functions;
    const stack = Stack.of(this);

    // ------------------------------------------------------------ tables
    const tables = {} as Record<TableShape['id'], ITableV2>;
    let chatStreamArn = props.chatReplica?.streamArn;
    for (const shape of TABLES) {
      if (shape.id === CHAT_TABLE.id && props.chatReplica) {
        tables.chat = props.chatReplica.table;
        continue;
      }
      // TableV2 (AWS::DynamoDB::GlobalTable) so the chat table can gain
      // replicas later without replacing it.
      const table = new TableV2(this, `${shape.id}-table`, {
        partitionKey: { name: shape.partitionKey, type: AttributeType.STRING },
        sortKey: { name: shape.sortKey, type: AttributeType.STRING },
        billing: Billing.onDemand(),
        timeToLiveAttribute: shape.ttlAttribute,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        globalSecondaryIndexes: shape.globalSecondaryIndexes.map((gsi) => ({
          indexName: gsi.indexName,
          partitionKey: { name: gsi.partitionKey, type: AttributeType.STRING },
          sortKey: { name: gsi.sortKey, type: AttributeType.STRING },
          projectionType: ProjectionType[gsi.projection],
        })),
        deletionProtection: !ephemeral,
        removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
        // Global tables replicate through the stream, and each region's fanout reads its replica's.
        ...(shape.global ? { dynamoStream: GLOBAL_STREAM } : {}),
      });
      // connections stays regional: a connection id is only valid at the API that issued it.
      if (shape.global) {
        makeGlobal(table, props.replicaRegions ?? []);
        chatStreamArn = table.tableStreamArn;
      }
      tables[shape.id] = table;
    }
    if (!chatStreamArn) throw new Error('ParleyRealtime: the chat table has no stream for the fanout function');
    tables.users = props.usersTable;
    this.tables = tables;

    // ------------------------------------------------------------ API
    const integration = (name: FunctionName) =>
      new WebSocketLambdaIntegration(`${name}-integration`, functions[name].resources.lambda);
    const chatIntegration = integration('chat');

    this.api = new WebSocketApi(this, 'api', {
      // The backend name (branch or sandbox id) tells the APIs apart in the console.
      apiName: `parley-${String(this.node.tryGetContext('amplify-backend-name') ?? 'app')}`,
      description: 'Parley chat WebSocket API',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: {
        integration: integration('connect'),
        authorizer: new WebSocketLambdaAuthorizer('token-authorizer', functions.authorizer.resources.lambda, {
          identitySource: [TOKEN_IDENTITY_SOURCE],
        }),
      },
      disconnectRouteOptions: { integration: integration('disconnect') },
      defaultRouteOptions: { integration: chatIntegration },
    });
    for (const action of ACTIONS) this.api.addRoute(action, { integration: chatIntegration });

    // Access logging on a WebSocket stage needs the account's API Gateway
    // CloudWatch role (HTTP APIs do not). That is an account-wide setting
    // (AWS::ApiGateway::Account), so no backend creates it: setting it would
    // replace the role of every other API Gateway API in the account and
    // region. The account owner sets it once; until then access logs stay
    // off (the functions still log, and the stage still has its metrics).
    const accessLogs = props.accessLogs
      ? new LogGroup(this, 'access-logs', {
          retention: ephemeral ? RetentionDays.ONE_WEEK : RetentionDays.THREE_MONTHS,
          removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
        })
      : undefined;

    this.stage = new WebSocketStage(this, 'stage', {
      webSocketApi: this.api,
      stageName: STAGE_NAME,
      autoDeploy: true,
      throttle: STAGE_THROTTLE,
      ...(accessLogs && {
        accessLogSettings: {
          destination: new LogGroupLogDestination(accessLogs),
          format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
        },
      }),
    });
    this.websocketUrl = this.stage.url;

    // ------------------------------------------------------------ env + IAM
    // One resource per @connections method a function is granted (permissions.ts); the others stay denied.
    const connectionsArn = (method: ConnectionsMethod) =>
      stack.formatArn({ service: 'execute-api', resource: this.api.apiId, resourceName: `${STAGE_NAME}/${method}/@connections/*` });

    for (const name of Object.keys(functions) as FunctionName[]) {
      const fn = functions[name];
      const access = FUNCTION_ACCESS[name];
      // Source maps are bundled; this makes stack traces use them.
      fn.addEnvironment('NODE_OPTIONS', '--enable-source-maps');

      const usesTables = Object.values(access.tables).some((actions) => actions.length > 0);
      if (usesTables) {
        // Every table name, even of tables the function may not touch: the
        // shared runtime config (core/config.ts) requires both at cold start,
        // and a name grants nothing; IAM below is what limits access.
        fn.addEnvironment(ENV.connectionsTable, tables.connections.tableName);
        fn.addEnvironment(ENV.chatTable, tables.chat.tableName);
        fn.addEnvironment(ENV.usersTable, tables.users.tableName);
      }
      for (const shape of ALL_TABLES) {
        const actions = access.tables[shape.id];
        if (!actions || actions.length === 0) continue;
        const table = tables[shape.id];
        const resources = [table.tableArn];
        if (shape.globalSecondaryIndexes.length > 0 && actions.some((a) => a === 'dynamodb:Query' || a === 'dynamodb:Scan')) {
          resources.push(`${table.tableArn}/index/*`);
        }
        fn.resources.lambda.addToRolePolicy(new PolicyStatement({ actions: [...actions], resources }));
      }

      if (access.manageConnections.length > 0) {
        fn.resources.lambda.addToRolePolicy(
          new PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: access.manageConnections.map(connectionsArn) }),
        );
      }
    }
    functions.authorizer.addEnvironment(ENV.userPoolId, props.userPoolId);
    functions.authorizer.addEnvironment(ENV.userPoolClientId, props.userPoolClientId);

    // ------------------------------------------------------------ regions
    const { placement } = props;
    const routes = JSON.stringify(otherRegionRoutes(placement.deploymentId, placement.otherRegions, placement.region));
    for (const name of REGION_AWARE) {
      functions[name].addEnvironment(ENV.primaryRegion, placement.primaryRegion);
      functions[name].addEnvironment(ENV.regions, routes);
    }
    for (const name of USES_CALLBACK_URL) functions[name].addEnvironment(ENV.callbackUrl, this.stage.callbackUrl);
    // Exactly the other regions' home functions, by the name every region derives (no cross-region reference).
    const otherHomes = placement.otherRegions.map((region) =>
      stack.formatArn({ service: 'lambda', region, account: Aws.ACCOUNT_ID, resource: 'function', resourceName: homeFunctionName(placement.deploymentId), arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    );
    if (otherHomes.length > 0) {
      for (const name of INVOKES_OTHER_HOMES) {
        functions[name].resources.lambda.addToRolePolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: otherHomes }));
      }
    }

    // ------------------------------------------------------------ stream fan-out
    const fanout = functions[READS_CHAT_STREAM].resources.lambda;
    fanout.addToRolePolicy(new PolicyStatement({ actions: [...STREAM_READ_ACTIONS], resources: [chatStreamArn] }));
    this.fanoutTrigger = new EventSourceMapping(this, 'fanout-trigger', {
      target: fanout,
      eventSourceArn: chatStreamArn,
      // Only what is written from now on: a new region must not replay the table's last day to its sockets.
      startingPosition: StartingPosition.LATEST,
      batchSize: FANOUT_STREAM.batchSize,
      // Live delivery: no batching window beyond Lambda's poll.
      maxBatchingWindow: Duration.seconds(0),
      // The handler names the records it could not deliver; a throw splits the batch to find the bad one.
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: FANOUT_STREAM.retryAttempts,
      maxRecordAge: Duration.seconds(FANOUT_STREAM.maxRecordAgeSeconds),
      // One source of truth with local mode's stream poller (realtime/defaults.ts).
      filters: [FilterCriteria.filter(fanoutStreamFilter(placement.region))],
    });
    // The poller reads with the role: the grant must exist before the mapping is created.
    if (fanout.role) this.fanoutTrigger.node.addDependency(fanout.role);

    // How cdk-nag prints the chat table's ARN: a GetAtt of the created table, or the replica's formatted ARN.
    const chatArn = props.chatReplica
      ? nagArn(stack, tables.chat.tableArn)
      : `<${stack.getLogicalId(tables.chat.node.defaultChild as CfnElement)}.Arn>`;
    this.acknowledgeNagFindings(Boolean(accessLogs), chatArn, (method) => nagArn(stack, connectionsArn(method)));
  }

  /**
   * cdk-nag (AwsSolutions) findings that are deliberate, each with its reason.
   * Acknowledgments are plain CDK metadata (Validations), so they cost nothing
   * when cdk-nag is not running.
   */
  private acknowledgeNagFindings(accessLogs: boolean, chatTableArn: string, connectionsArn: (method: ConnectionsMethod) => string): void {
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions::AwsSolutions-APIG4',
      reason:
        'WebSocket APIs can only authorize $connect, which uses the Cognito token authorizer; $disconnect, ' +
        '$default and the custom routes run on that already-authorized connection.',
    });
    if (!accessLogs) {
      Validations.of(this.stage).acknowledge({
        id: 'AwsSolutions::AwsSolutions-APIG1',
        reason:
          'WebSocket access logs need the account-wide API Gateway CloudWatch role, which a backend must not set ' +
          '(it would replace the role of every other API in the account and region). They are opt-in once the ' +
          `account has the role (${ACCESS_LOGS_ENV}=true); until then the functions' own logs and the API's CloudWatch metrics remain.`,
      });
    }
    for (const [name, { resources: { lambda } }] of Object.entries(this.functions) as [FunctionName, RealtimeFunction][]) {
      if (!lambda.role) continue;
      // The findings are on the role's DefaultPolicy, a child of the role.
      Validations.of(lambda.role).acknowledge(
        ...FUNCTION_ACCESS[name].manageConnections.map((method) => ({
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::${connectionsArn(method)}]`,
          reason:
            `Connection ids are only known at runtime; the wildcard is limited to ${method} on the @connections ` +
            'of this API and stage.',
        })),
        {
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::${chatTableArn}/index/*]`,
          reason: 'Query on the GSIs of the chat table only (index names are not part of the permission model).',
        },
      );
    }
  }
}

/**
 * A resolved ARN the way cdk-nag spells it in a finding: pseudo parameters
 * as <AWS::Partition>, the rest literal (imported replicas are named, not referenced).
 */
function nagArn(stack: Stack, arn: string): string {
  const resolved: unknown = stack.resolve(arn);
  const render = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object' && 'Ref' in v) return `<${String((v as { Ref: unknown }).Ref)}>`;
    if (v && typeof v === 'object' && 'Fn::Join' in v) {
      const [sep, parts] = (v as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      return parts.map(render).join(sep);
    }
    throw new Error(`cannot render ${JSON.stringify(v)} for cdk-nag`);
  };
  if (Token.isUnresolved(resolved)) throw new Error('unresolved ARN');
  return render(resolved);
}
