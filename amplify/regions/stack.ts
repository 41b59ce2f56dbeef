/**
 * One secondary region of a Parley backend: its own WebSocket API and
 * connections table, the same functions as the primary (the same handlers,
 * bundled by the same helper), and the primary's chat and users tables by
 * their replicas here. Tokens are the primary's user pool's: Cognito stays
 * in the primary. Deployed by `npm run deploy:regions` (scripts/deploy-regions.ts).
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsCustomResource, AwsCustomResourcePolicy, type AwsSdkCall, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { authorizerFunction } from '../functions/authorizer/resource';
import { chatFunction } from '../functions/chat/resource';
import { connectFunction } from '../functions/connect/resource';
import { disconnectFunction } from '../functions/disconnect/resource';
import { fanoutFunction } from '../functions/fanout/resource';
import { homeFunction } from '../functions/home/resource';
import { accessLogsOptedIn, ParleyRealtime, type RealtimeFunction } from '../realtime/construct';
import { createRealtimeLambda, type RealtimeFunctionProps } from '../realtime/function';
import type { FunctionName } from '../realtime/permissions';
import type { PrimaryOutputs } from './outputs';
import { WEBSOCKET_URL_OUTPUT } from './stack-outputs';

const SPECS: Record<FunctionName, RealtimeFunctionProps> = {
  authorizer: authorizerFunction,
  connect: connectFunction,
  disconnect: disconnectFunction,
  chat: chatFunction,
  home: homeFunction,
  fanout: fanoutFunction,
};

/** The stack output deploy:regions reads this region's endpoint from. */
export { WEBSOCKET_URL_OUTPUT };

export interface SecondaryRegionProps extends StackProps {
  /** A concrete region: the replicas and the stream filter are named by it. */
  region: string;
  primary: PrimaryOutputs;
}

export class SecondaryRegionStack extends Stack {
  readonly realtime: ParleyRealtime;

  constructor(scope: Construct, id: string, props: SecondaryRegionProps) {
    super(scope, id, { ...props, env: { ...props.env, region: props.region } });
    const { primary, region } = props;
    const { deployment } = primary;
    if (!deployment.regions.includes(region) || region === primary.primaryRegion) {
      throw new Error(`${region} is not a secondary region of this deployment (${deployment.regions.join(', ')})`);
    }
    const ephemeral = deployment.ephemeral;

    const functions = {} as Record<FunctionName, RealtimeFunction>;
    for (const [name, spec] of Object.entries(SPECS) as [FunctionName, RealtimeFunctionProps][]) {
      const lambda = createRealtimeLambda(this, spec, { shortLogs: ephemeral });
      functions[name] = { resources: { lambda }, addEnvironment: (k, v) => void lambda.addEnvironment(k, v) };
    }

    // The replicas carry the primary's table names; only the stream ARN is this region's own.
    const users = TableV2.fromTableName(this, 'users-replica', deployment.tables.users);
    const chatArn = this.formatArn({ service: 'dynamodb', resource: 'table', resourceName: deployment.tables.chat });
    const streamArn = this.replicaStreamArn(deployment.tables.chat, chatArn, ephemeral);
    const chat = TableV2.fromTableAttributes(this, 'chat-replica', { tableName: deployment.tables.chat, tableStreamArn: streamArn });

    this.realtime = new ParleyRealtime(this, 'ParleyRealtime', {
      functions,
      userPoolId: primary.userPoolId,
      userPoolClientId: primary.userPoolClientId,
      usersTable: users,
      chatReplica: { table: chat, streamArn },
      placement: {
        region,
        primaryRegion: primary.primaryRegion,
        otherRegions: deployment.regions.filter((r) => r !== region),
        deploymentId: deployment.id,
      },
      ephemeral,
      accessLogs: accessLogsOptedIn(this),
    });
    new CfnOutput(this, WEBSOCKET_URL_OUTPUT, { value: this.realtime.websocketUrl, description: `Parley WebSocket endpoint in ${region}` });
  }

  /**
   * The replica's stream ARN, read in this region at deploy time. It carries
   * a creation timestamp, so it cannot be derived from the name, and the
   * primary's template only knows its own region's (GetAtt StreamArn). Read
   * by DescribeTable on this one table, with a role that may do nothing else.
   */
  private replicaStreamArn(tableName: string, tableArn: string, ephemeral: boolean): string {
    const role = new Role(this, 'replica-lookup-role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Parley: reads the chat replica's stream ARN (${this.stackName})`,
    });
    const logGroup = new LogGroup(this, 'replica-lookup-logs', {
      retention: ephemeral ? RetentionDays.ONE_WEEK : RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    logGroup.grantWrite(role);
    const describe: AwsSdkCall = {
      service: 'DynamoDB',
      action: 'describeTable',
      parameters: { TableName: tableName },
      // A new ARN (the replica re-created) replaces the resource, and the mapping follows it.
      physicalResourceId: PhysicalResourceId.fromResponse('Table.LatestStreamArn'),
      outputPaths: ['Table.LatestStreamArn'],
    };
    const lookup = new AwsCustomResource(this, 'chat-replica-stream', {
      onCreate: describe,
      onUpdate: describe,
      role,
      logGroup,
      // The runtime's SDK has DescribeTable; installing one at deploy would need npm at deploy time.
      installLatestAwsSdk: false,
      policy: AwsCustomResourcePolicy.fromStatements([new PolicyStatement({ actions: ['dynamodb:DescribeTable'], resources: [tableArn] })]),
    });
    Validations.of(lookup).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason: "The AwsCustomResource provider's runtime is chosen by the aws-cdk-lib release; it runs one DescribeTable per deploy.",
    });
    return lookup.getResponseField('Table.LatestStreamArn');
  }
}
