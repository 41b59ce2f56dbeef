/**
 * ParleyRealtime: the DynamoDB tables, the API Gateway WebSocket API and the
 * wiring (routes, env, least-privilege IAM) around the four Lambda functions.
 *
 * It must be created in the functions' own stack (Stack.of(fn)): a separate
 * stack would reference the functions while the functions reference it back
 * (table names, API id), a circular nested-stack dependency.
 */
import { Aws, type CfnElement, type CfnResource, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, Billing, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ACTIONS } from '../core/protocol';
import { FUNCTION_ACCESS, type FunctionName } from './permissions';
import { ENV, TABLES, type TableShape } from './tables';

export const STAGE_NAME = 'production';
export const TOKEN_IDENTITY_SOURCE = 'route.request.querystring.token';

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

/** What the construct needs from an Amplify function: the Lambda and a way to set env. */
export interface RealtimeFunction {
  resources: { lambda: IFunction };
  addEnvironment(key: string, value: string): void;
}

export interface ParleyRealtimeProps {
  functions: Record<FunctionName, RealtimeFunction>;
  userPoolId: string;
  userPoolClientId: string;
  /**
   * Throw-away backends (sandboxes, pull-request previews): tables and access
   * logs are destroyed with the stack and not deletion-protected.
   */
  ephemeral: boolean;
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
        })),
        deletionProtection: !ephemeral,
        removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      });
      tables[shape.id] = table;
    }
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

    // Access logging on a WebSocket stage needs the account-level API Gateway
    // CloudWatch role (HTTP APIs do not). One AWS::ApiGateway::Account per
    // region holds it; every Parley backend sets it to an identical role, and
    // the role is retained, even in sandboxes, so deleting one backend never
    // breaks another's logging (the account setting outlives the stack).
    const cloudWatchRole = new Role(this, 'apigw-cloudwatch-role', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
    });
    // A raw override, because Amplify's sandbox aspect turns every removal
    // policy into DESTROY; an orphaned role is free, a broken one is not.
    const cfnCloudWatchRole = cloudWatchRole.node.defaultChild as CfnResource;
    cfnCloudWatchRole.addOverride('DeletionPolicy', 'Retain');
    cfnCloudWatchRole.addOverride('UpdateReplacePolicy', 'Retain');
    const account = new CfnAccount(this, 'apigw-account', { cloudWatchRoleArn: cloudWatchRole.roleArn });
    account.node.addDependency(cloudWatchRole);

    const accessLogs = new LogGroup(this, 'access-logs', {
      retention: ephemeral ? RetentionDays.ONE_WEEK : RetentionDays.THREE_MONTHS,
      removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });

    this.stage = new WebSocketStage(this, 'stage', {
      webSocketApi: this.api,
      stageName: STAGE_NAME,
      autoDeploy: true,
      throttle: STAGE_THROTTLE,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.stage.node.addDependency(account);
    this.websocketUrl = this.stage.url;

    // ------------------------------------------------------------ env + IAM
    const connectionsArn = stack.formatArn({
      service: 'execute-api',
      resource: this.api.apiId,
      // Handlers only POST to @connections; GET/DELETE stay denied.
      resourceName: `${STAGE_NAME}/POST/@connections/*`,
    });

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
        fn.addEnvironment(ENV.homeRegion, Aws.REGION);
      }
      for (const shape of TABLES) {
        const actions = access.tables[shape.id];
        if (!actions || actions.length === 0) continue;
        const table = tables[shape.id];
        const resources = [table.tableArn];
        if (shape.globalSecondaryIndexes.length > 0 && actions.some((a) => a === 'dynamodb:Query' || a === 'dynamodb:Scan')) {
          resources.push(`${table.tableArn}/index/*`);
        }
        fn.resources.lambda.addToRolePolicy(new PolicyStatement({ actions: [...actions], resources }));
      }

      if (access.manageConnections) {
        fn.resources.lambda.addToRolePolicy(
          new PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: [connectionsArn] }),
        );
      }
    }
    functions.authorizer.addEnvironment(ENV.userPoolId, props.userPoolId);
    functions.authorizer.addEnvironment(ENV.userPoolClientId, props.userPoolClientId);

    this.acknowledgeNagFindings(
      cloudWatchRole,
      stack.getLogicalId(tables.chat.node.defaultChild as CfnElement),
      stack.getLogicalId(this.api.node.defaultChild as CfnElement),
    );
  }

  /**
   * cdk-nag (AwsSolutions) findings that are deliberate, each with its reason.
   * Acknowledgments are plain CDK metadata (Validations), so they cost nothing
   * when cdk-nag is not running.
   */
  private acknowledgeNagFindings(cloudWatchRole: Role, chatTableLogicalId: string, apiLogicalId: string): void {
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions::AwsSolutions-APIG4',
      reason:
        'WebSocket APIs can only authorize $connect, which uses the Cognito token authorizer; $disconnect, ' +
        '$default and the custom routes run on that already-authorized connection.',
    });
    Validations.of(cloudWatchRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'AWS-maintained policy made for the API Gateway account logging role; API Gateway creates its own ' +
        'execution log groups, so the permissions cannot be narrowed to known ARNs.',
    });
    for (const lambda of Object.values(this.functions).map((f) => f.resources.lambda)) {
      Validations.of(lambda).acknowledge({
        id: 'AwsSolutions::AwsSolutions-L1',
        reason:
          'Node.js 22 is a supported Lambda runtime (deprecation in 2027) and matches the Node 20/22 toolchain of ' +
          'local mode and the tests; moving to Node 24 is a deliberate upgrade, not a default.',
      });
      if (!lambda.role) continue;
      // The findings are on the role's DefaultPolicy, a child of the role.
      Validations.of(lambda.role).acknowledge(
        {
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${STAGE_NAME}/POST/@connections/*]`,
          reason:
            'Connection ids are only known at runtime; the wildcard is limited to POST on the @connections ' +
            'of this API and stage.',
        },
        {
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${chatTableLogicalId}.Arn>/index/*]`,
          reason: 'Query on the GSIs of the chat table only (index names are not part of the permission model).',
        },
      );
    }
  }
}
