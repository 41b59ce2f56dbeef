/**
 * The tutorial's chat, as its sample code does it (aws-samples/
 * simple-websockets-chat-app, the SDK v3 `sendmessage/app.js`): one table of
 * connection ids, `$connect` puts, `$disconnect` deletes, and `sendmessage`
 * Scans the whole table (ProjectionExpression connectionId), builds a new
 * management client, and posts to every connection with an unbounded
 * Promise.all. Like the sample:
 * - the management client is new on every invocation, with the SDK's default
 *   agent (50 sockets), so no post reuses a connection from an earlier message;
 * - a failed post is tested with `e.statusCode === 410`. SDK v3 errors carry
 *   `$metadata.httpStatusCode`, not `statusCode`, so the test never holds:
 *   a stale connection's 410 is rethrown, Promise.all rejects, the handler
 *   answers 500, and the stale row is never deleted;
 * - the first rejection answers 500 at once; the other posts carry on.
 *
 * Differences that remain (bench/README.md says which way each leans):
 * - clients come from the factory's options, not env, so one process can
 *   host it beside Parley (whose handlers read env at import); the sample
 *   builds its DynamoDB client at module scope, as runtime.ts here does;
 * - in local mode the management endpoint is given (`managementEndpoint`),
 *   since the local gateway is not at https://<domainName>/<stage>;
 * - each invocation's management client is destroyed once all its posts have
 *   settled, after the handler has answered. The sample leaves it to the
 *   garbage collector; in one long-lived process its idle keep-alive sockets
 *   would pile up by the thousand, which a Lambda container never sees;
 * - an optional room (`?room=` at connect, `room` in the frame) adds a
 *   FilterExpression to the Scan: the least change that gives the tutorial
 *   rooms. The Scan still reads, and bills, every connection in the table;
 * - the Scan follows LastEvaluatedKey (the sample reads one page): the same
 *   single call below 1 MB of rows, which every table here is;
 * - the frame's text is `message` (the AWS tutorial's frame), not the
 *   sample's `data`, and bad JSON answers 400 instead of throwing.
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

/** The sample's test for a stale connection, verbatim: on SDK v3 it is never true (the status is in `$metadata.httpStatusCode`). */
const sampleSaysGone = (e: unknown) => (e as { statusCode?: unknown }).statusCode === 410;

export function createBaselineHandlers(opts: BaselineOptions): BaselineHandlers {
  const { db, table } = opts;

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

      // As the sample: a new client, and so a new agent and new sockets, on every invocation.
      const api = new ApiGatewayManagementApiClient({ endpoint: opts.managementEndpoint ?? `https://${domainName}/${stage}` });
      const data = new TextEncoder().encode(message);
      const posts = ids.map(async (connectionId) => {
        try {
          await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        } catch (e) {
          if (sampleSaysGone(e)) await db.send(new DeleteCommand({ TableName: table, Key: { connectionId } }));
          else throw e;
        }
      });
      // Not the sample's: its client is left to the garbage collector (see the header).
      void Promise.allSettled(posts).then(() => api.destroy());
      try {
        await Promise.all(posts);
      } catch (e) {
        return { statusCode: 500, body: e instanceof Error ? (e.stack ?? e.message) : String(e) };
      }
      return { statusCode: 200, body: 'Data sent.' };
    },
  };
}
