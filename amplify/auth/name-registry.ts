/**
 * The users table (the chat-name registry) and its Pre sign-up writer, in the
 * auth stack: the user pool references the trigger, the trigger references
 * the table, and the realtime stack only reads the table, so no cycle forms.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { GLOBAL_STREAM, makeGlobal } from '../realtime/global';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV } from '../core/config';
import { USERS_TABLE } from '../realtime/tables';

export interface NameRegistryProps {
  /** The Pre sign-up trigger: it alone writes claims. */
  preSignUp: { resources: { lambda: IFunction }; addEnvironment(key: string, value: string): void };
  ephemeral: boolean;
  /** Every region of the deployment, this one first: one replica each (claims are read everywhere). */
  regions: readonly string[];
}

export class NameRegistry extends Construct {
  readonly table: TableV2;

  constructor(scope: Construct, id: string, props: NameRegistryProps) {
    super(scope, id);
    this.table = new TableV2(this, 'users-table', {
      partitionKey: { name: USERS_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: USERS_TABLE.sortKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      timeToLiveAttribute: USERS_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Losing claims would let anyone take anyone's name: kept, except in throw-away backends.
      deletionProtection: !props.ephemeral,
      removalPolicy: props.ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      dynamoStream: GLOBAL_STREAM,
    });
    makeGlobal(this.table, props.regions);
    props.preSignUp.addEnvironment(ENV.usersTable, this.table.tableName);
    // Claims are conditional puts and nothing else: no read, no update, no delete.
    props.preSignUp.resources.lambda.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [this.table.tableArn] }));
  }
}
