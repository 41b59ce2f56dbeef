/**
 * DynamoDB going away and coming back mid-run: a clean error while it is
 * down, then success, never a lost acknowledged message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { USERS_TABLE } from '../../amplify/realtime/tables';
import { claimName } from '../../amplify/core/users';
import { createTable, dynamoClient, startDynamo, type LocalDynamo } from '../../local/dynamodb';
import { freePort } from '../../local/process';
import type { LocalStack } from '../../local/stack';
import { sendUntilAcked, TestClient, transcript } from '../support/client';
import { decode } from '../support/jwt';
import { closeStack, testStack } from '../support/stack';

describe('DynamoDB stopped and restarted mid-run', () => {
  let dir: string;
  let port: number;
  let dynamo: LocalDynamo;
  let stack: LocalStack;
  let token: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parley-ddb-'));
    port = await freePort();
    dynamo = await startDynamo(port, false, dir);
    stack = await testStack({ dynamoEndpoint: dynamo.endpoint });
    // The name registry lives on the run's shared DynamoDB Local; this stack's own needs the claim too.
    const ddb = dynamoClient(dynamo.endpoint);
    await createTable(ddb, USERS_TABLE, stack.tables.users);
    token = await stack.token('quinn');
    const { sub } = decode(token) as { sub: string };
    await claimName({ db: DynamoDBDocumentClient.from(ddb), table: stack.tables.users }, { userId: sub, userName: 'quinn' });
  });
  afterAll(async () => {
    try {
      await closeStack(stack);
    } finally {
      await dynamo?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers unavailable while it is down, keeps the socket, and loses nothing acknowledged', async () => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    const acked = [await sendUntilAcked(c, 'before the outage', 'o-1')];
    await dynamo.stop();
    const during = await c.reply({ action: 'sendmessage', message: 'during the outage', clientMsgId: 'o-2' }, 15_000);
    expect(during).toMatchObject({ type: 'error', code: 'unavailable' });
    expect((await c.request('pong', { action: 'ping' })).type).toBe('pong');
    dynamo = await startDynamo(port, false, dir);
    acked.push(await sendUntilAcked(c, 'during the outage', 'o-2'));
    acked.push(await sendUntilAcked(c, 'after the outage', 'o-3'));
    const stored = await transcript(c);
    expect(stored.map((m) => m.text)).toEqual(['before the outage', 'during the outage', 'after the outage']);
    expect(stored.map((m) => m.seq)).toEqual(acked.map((a) => a.seq));
    await c.close();
  });
});
