/**
 * Faults at the gateway: @connections failing, a handler outliving its
 * integration timeout. Each must end in a clean error and a later success,
 * never in a lost acknowledged message. (One stack per file: handlers read
 * their configuration at import, as in Lambda.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../amplify/core/protocol';
import type { LocalStack } from '../../local/stack';
import { sendUntilAcked, TestClient, transcript } from '../support/client';
import { closeStack, testStack } from '../support/stack';


describe('@connections and handler faults', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // A short integration timeout and slow posts make the chat handler outlive its caller.
    stack = await testStack({ gateway: { integrationTimeoutMs: 1000 } });
  });
  afterAll(() => closeStack(stack));

  it('survives a recipient whose posts fail with 500: the sender is acked, the recipient catches up from history', async () => {
    const alice = await TestClient.connect(stack.websocketUrl, await stack.token('rita'));
    const bob = await TestClient.connect(stack.websocketUrl, await stack.token('sam'));
    await bob.request('joined', { action: 'joinroom', room: 'lobby' });
    const bobsId = stack.gateway.listConnections().find((c) => c.authorizer.userName === 'sam')?.connectionId;
    expect(bobsId).toBeDefined();
    stack.gateway.setManagementFault((id) => (id === bobsId ? 500 : undefined));
    const ack = await sendUntilAcked(alice, 'you will have to catch up', 'f-1');
    // A barrier, not a sleep: once the handlers have settled, every post to bob has been tried (and failed).
    await stack.gateway.settled();
    expect(bob.events.some((e: ServerEvent) => e.type === 'message')).toBe(false);
    stack.gateway.setManagementFault(undefined);
    const caughtUp = await transcript(bob);
    expect(caughtUp.map((m) => m.seq)).toContain(ack.seq);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('recovers from a handler timeout by retrying with the same clientMsgId: stored exactly once', async () => {
    const c = await TestClient.connect(stack.websocketUrl, await stack.token('tess'));
    const before = (await transcript(c)).length;
    // Posts take longer than the integration timeout, so the first attempt times out at the gateway.
    stack.gateway.setPostLatency(1500);
    c.send({ action: 'sendmessage', message: 'slow but sure', clientMsgId: 't-1' });
    // API Gateway gives up on the integration and tells the client so; the handler runs on.
    const timedOut = await c.takeRaw((e) => (e as { message?: string }).message === 'Internal server error', 5000);
    expect(timedOut).toBeDefined();
    stack.gateway.setPostLatency(0);
    const ack = await sendUntilAcked(c, 'slow but sure', 't-1');
    expect(ack.type).toBe('ack');
    const after = await transcript(c);
    expect(after.filter((m) => m.text === 'slow but sure')).toHaveLength(1);
    expect(after.length).toBe(before + 1);
    await c.close();
  });
});
