/** A corpus of bad frames through the real stack: each gets its typed error, nothing is stored, the socket lives on. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../amplify/core/keys';
import { dynamoClient } from '../../local/dynamodb';
import type { LocalStack } from '../../local/stack';
import { TestClient } from '../support/client';
import { closeStack, testStack } from '../support/stack';
import { BAD_FRAMES, ODD_BUT_VALID } from './corpus';

let stack: LocalStack;
let db: DynamoDBDocumentClient;
let token: string;

async function item(key: { pk: string; sk: string }) {
  return (await db.send(new GetCommand({ TableName: stack.tables.chat, Key: key, ConsistentRead: true }))).Item;
}

beforeAll(async () => {
  stack = await testStack();
  db = DynamoDBDocumentClient.from(dynamoClient(stack.dynamoEndpoint));
  token = await stack.token('fuzzer');
});
afterAll(() => closeStack(stack));

describe('bad input', () => {
  it('has a corpus of at least 50 frames', () => {
    expect(BAD_FRAMES.length).toBeGreaterThanOrEqual(50);
  });

  it.each(BAD_FRAMES.map((f) => [f.name, f] as const))('%s', async (_name, { frame, code }) => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    try {
      const lobbyBefore = (await item(keys.roomMeta('lobby')))?.lastSeq;
      c.sendRaw(frame);
      const err = await c.next('error');
      expect(err.code).toBe(code);
      expect(err.message).toMatch(/\w/);
      expect(JSON.stringify(err)).not.toContain('<script>');
      expect((await c.request('pong', { action: 'ping' })).type).toBe('pong');
      expect((await item(keys.roomMeta('lobby')))?.lastSeq).toBe(lobbyBefore);
      expect(await item(keys.roomMeta('r1'))).toBeUndefined();
      expect(({} as Record<string, unknown>).message).toBeUndefined();
    } finally {
      await c.close();
    }
  });

  it('closes a socket that sends one frame over 32 KB (1009), as API Gateway does, and stores nothing', async () => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    const before = (await item(keys.roomMeta('lobby')))?.lastSeq;
    c.sendRaw(JSON.stringify({ action: 'sendmessage', message: 'z'.repeat(40_000) }));
    expect((await c.closed).code).toBe(1009);
    expect((await item(keys.roomMeta('lobby')))?.lastSeq).toBe(before);
    const again = await TestClient.connect(stack.websocketUrl, token);
    expect((await again.request('pong', { action: 'ping' })).type).toBe('pong');
    await again.close();
  });

  it('answers an action over 32 KB sent in fragments with too_large', async () => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    const bytes = Buffer.from(JSON.stringify({ action: 'sendmessage', message: 'y'.repeat(100_000) }));
    for (let i = 0; i < bytes.length; i += 16_000) c.ws.send(bytes.subarray(i, i + 16_000), { fin: i + 16_000 >= bytes.length, binary: false });
    expect((await c.next('error')).code).toBe('too_large');
    expect((await c.request('pong', { action: 'ping' })).type).toBe('pong');
    await c.close();
  });

  it('closes a socket whose message passes 128 KB (1009)', async () => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    const bytes = Buffer.alloc(140 * 1024, 'a');
    for (let i = 0; i < bytes.length; i += 16_000) c.ws.send(bytes.subarray(i, i + 16_000), { fin: i + 16_000 >= bytes.length, binary: false });
    expect((await c.closed).code).toBe(1009);
  });

  it('stores odd but valid text verbatim', async () => {
    const c = await TestClient.connect(stack.websocketUrl, token);
    for (const text of ODD_BUT_VALID) {
      const ack = await c.request('ack', { action: 'sendmessage', message: text });
      expect(ack.type).toBe('ack');
      const echoed = await c.next('message', (m) => ack.type === 'ack' && m.seq === ack.seq);
      expect(echoed.text).toBe(text);
      await new Promise((r) => setTimeout(r, 110)); // stay under the rate limit
    }
    await c.close();
  });
});
