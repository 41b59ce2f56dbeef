/**
 * ParleyRealtime: the DynamoDB tables, the API Gateway WebSocket API and the
 * wiring (routes, env, least-privilege IAM) around the four Lambda functions.
 *
 * It must be created in the functions' own stack (Stack.of(fn)): a separate
 * stack would reference the functions while the functions reference it back
 * (table names, API id), a circular nested-stack dependency.
 */
import { type CfnElement, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ACTIONS } from '../core/protocol';
import { type ConnectionsMethod, FUNCTION_ACCESS, type FunctionName } from './permissions';
import { ENV } from '../core/config';
import { ALL_TABLES, TABLES, type TableShape } from './tables';
import { STAGE_NAME, TOKEN_IDENTITY_SOURCE } from './defaults';

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

export interface ParleyRealtimeProps {
  functions: Record<FunctionName, RealtimeFunction>;
  userPoolId: string;
  userPoolClientId: string;
  /** The name registry, owned by the auth stack (see amplify/auth/name-registry.ts). */
  usersTable: TableV2;
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
  readonly tables: Record<TableShape['id'], TableV2>;
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  /** wss://<apiId>.execute-api.<region>.amazonaws.com/production */
  readonly websocketUrl: string;
  private readonly functions: Record<FunctionName, RealtimeFunction>;

  constructor(scope: Construct, id: string, props: ParleyRealtimeProps) {
    super(scope, id);
    const { functions, ephemeral } = props;
    this.functions = functions;
    const stack = Stack.of(this);

    // ------------------------------------------------------------ tables
    const tables = {} as Record<TableShape['id'], TableV2>;
    for (const shape of TABLES) {
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
      });
      tables[shape.id] = table;
    }
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

    this.acknowledgeNagFindings(
      Boolean(accessLogs),
      stack.getLogicalId(tables.chat.node.defaultChild as CfnElement),
      stack.getLogicalId(this.api.node.defaultChild as CfnElement),
    );
  }

  /**
   * cdk-nag (AwsSolutions) findings that are deliberate, each with its reason.
   * Acknowledgments are plain CDK metadata (Validations), so they cost nothing
   * when cdk-nag is not running.
   */
  private acknowledgeNagFindings(accessLogs: boolean, chatTableLogicalId: string, apiLogicalId: string): void {
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
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${STAGE_NAME}/${method}/@connections/*]`,
          reason:
            `Connection ids are only known at runtime; the wildcard is limited to ${method} on the @connections ` +
            'of this API and stage.',
        })),
        {
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${chatTableLogicalId}.Arn>/index/*]`,
          reason: 'Query on the GSIs of the chat table only (index names are not part of the permission model).',
        },
      );
    }
  }
}
