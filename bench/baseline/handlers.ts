/**
 * The tutorial's chat, as its sample code does it: one table of connection
 * ids, `$connect` puts, `$disconnect` deletes, and `sendmessage` Scans the
 * whole table and posts to every connection with an unbounded Promise.all,
 * deleting any connection that answers 410.
 *
 * Two deliberate differences from the sample, both so that the bench compares
 * designs rather than incidental code:
 * - clients come from the factory's options, not env, so one process can
 *   host it beside Parley (whose handlers read env at import), and the
 *   management client is kept per endpoint instead of built per invocation;
 * - an optional room (`?room=` at connect, `room` in the frame) adds a
 *   FilterExpression to the Scan: the least change that gives the tutorial
 *   rooms. The Scan still reads, and bills, every connection in the table.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DeleteCommand, PutCommand, ScanCommand, type DynamoDBDocumentClient, type ScanCommandInput } from '@aws-sdk/lib-dynamodb';

/** The parts of API Gateway's WebSocket event these handlers read. */
export interface BaselineEvent {
  requestContext: { connectionId: string; domainName: string; stage: string };
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
}

export interface BaselineResult {
  statusCode: number;
  body?: string;
}

export interface BaselineOptions {
  db: DynamoDBDocumentClient;
  table: string;
  /** Local mode: where @connections lives. In AWS the sample derives it from the event. */
  managementEndpoint?: string;
}

export interface BaselineHandlers {
  connect(event: BaselineEvent): Promise<BaselineResult>;
  disconnect(event: BaselineEvent): Promise<BaselineResult>;
  sendmessage(event: BaselineEvent): Promise<BaselineResult>;
}

const isGone = (err: unknown) =>
  err instanceof Error &&
  (err.name === 'GoneException' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 410);

export function createBaselineHandlers(opts: BaselineOptions): BaselineHandlers {
  const { db, table } = opts;
  const clients = new Map<string, ApiGatewayManagementApiClient>();
  const management = (endpoint: string) => {
    let client = clients.get(endpoint);
    if (!client) clients.set(endpoint, (client = new ApiGatewayManagementApiClient({ endpoint })));
    return client;
  };

  return {
    async connect(event) {
      const room = event.queryStringParameters?.room;
      try {
        await db.send(new PutCommand({ TableName: table, Item: { connectionId: event.requestContext.connectionId, ...(room ? { room } : {}) } }));
      } catch (err) {
        return { statusCode: 500, body: `Failed to connect: ${String(err)}` };
      }
      return { statusCode: 200, body: 'Connected.' };
    },

    async disconnect(event) {
      try {
        await db.send(new DeleteCommand({ TableName: table, Key: { connectionId: event.requestContext.connectionId } }));
      } catch (err) {
        return { statusCode: 500, body: `Failed to disconnect: ${String(err)}` };
      }
      return { statusCode: 200, body: 'Disconnected.' };
    },

    async sendmessage(event) {
      const { domainName, stage } = event.requestContext;
      let body: { message?: unknown; room?: unknown };
      try {
        body = JSON.parse(event.body ?? '{}') as typeof body;
      } catch {
        return { statusCode: 400, body: 'Bad JSON' };
      }
      const message = String(body.message ?? '');
      const scan: ScanCommandInput = { TableName: table, ProjectionExpression: 'connectionId' };
      if (typeof body.room === 'string') {
        Object.assign(scan, {
          FilterExpression: '#room = :room',
          ExpressionAttributeNames: { '#room': 'room' },
          ExpressionAttributeValues: { ':room': body.room },
        });
      }
      // The sample reads one Scan page; following LastEvaluatedKey keeps it correct past 1 MB.
      const ids: string[] = [];
      let start: Record<string, unknown> | undefined;
      try {
        do {
          const page = await db.send(new ScanCommand({ ...scan, ExclusiveStartKey: start }));
          for (const item of page.Items ?? []) ids.push(String(item.connectionId));
          start = page.LastEvaluatedKey;
        } while (start);
      } catch (err) {
        return { statusCode: 500, body: String(err) };
      }

      const api = management(opts.managementEndpoint ?? `https://${domainName}/${stage}`);
      const data = new TextEncoder().encode(message);
      const posts = ids.map(async (connectionId) => {
        try {
          await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        } catch (err) {
          if (isGone(err)) await db.send(new DeleteCommand({ TableName: table, Key: { connectionId } }));
          else throw err;
        }
      });
      try {
        await Promise.all(posts);
      } catch (err) {
        return { statusCode: 500, body: String(err) };
      }
      return { statusCode: 200, body: 'Data sent.' };
    },
  };
}
