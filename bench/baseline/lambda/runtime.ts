/**
 * What a deployed tutorial function would look like: configuration from env
 * at cold start, clients at module scope. Only bundled (figure 5), never run
 * by the bench itself.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createBaselineHandlers } from '../handlers';

export const handlers = createBaselineHandlers({
  db: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  table: process.env.TABLE_NAME ?? '',
});
