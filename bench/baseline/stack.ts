/**
 * The baseline on the same local API Gateway and the same DynamoDB Local as
 * Parley, with its own table and gateway. No authorizer: the tutorial has
 * none, and no figure times the handshake.
 */
import { randomBytes } from 'node:crypto';
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoClient } from '../../local/dynamodb';
import { freePort } from '../../local/process';
import { startGateway, type GatewayOptions, type LambdaHandler, type LocalGateway } from '../../local/gateway';
import { STAGE_NAME } from '../../amplify/realtime/defaults';
import { createBaselineHandlers } from './handlers';
import { createBaselineTable } from './table';

export interface BaselineStack {
  websocketUrl: string;
  gateway: LocalGateway;
  table: string;
  /** Its DynamoDB client, for a meter to hook (figure 8 bills its calls). */
  ddb: DynamoDBClient;
  /** Rows in its table now: the connections every Scan reads. */
  population(): Promise<number>;
  close(): Promise<void>;
}

export async function startBaseline(opts: {
  dynamoEndpoint: string;
  gateway?: Partial<Omit<GatewayOptions, 'routes' | 'authorizer' | 'port'>>;
}): Promise<BaselineStack> {
  const ddb = dynamoClient(opts.dynamoEndpoint);
  const table = `tutorial-connections-${randomBytes(4).toString('hex')}`;
  const db = DynamoDBDocumentClient.from(ddb);
  // As in startStack: the port is chosen first, so the handlers know their @connections endpoint.
  const port = await freePort();
  const stage = opts.gateway?.stage ?? STAGE_NAME;
  const handlers = createBaselineHandlers({ db, table, managementEndpoint: `http://127.0.0.1:${port}/${stage}` });
  let gateway: LocalGateway;
  try {
    await createBaselineTable(ddb, table);
    gateway = await startGateway({
      ...opts.gateway,
      port,
      stage,
      routes: {
        $connect: handlers.connect as LambdaHandler,
        $disconnect: handlers.disconnect as LambdaHandler,
        sendmessage: handlers.sendmessage as LambdaHandler,
      },
    });
  } catch (err) {
    ddb.destroy();
    throw err;
  }
  return {
    websocketUrl: gateway.url,
    gateway,
    table,
    ddb,
    async population() {
      let count = 0;
      let start: Record<string, unknown> | undefined;
      do {
        const page = await db.send(new ScanCommand({ TableName: table, Select: 'COUNT', ExclusiveStartKey: start }));
        count += page.Count ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      return count;
    },
    async close() {
      await gateway.close();
      await ddb.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
      ddb.destroy();
    },
  };
}
