import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** The tutorial's table: partition key `connectionId`, nothing else. */
export async function createBaselineTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'connectionId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
    }),
  );
}
