/**
 * The trust guarantees through the real stack: the authorizer's name check
 * against the registry, sign-up claims through cognito-local's Pre sign-up
 * trigger, sessions that end with their token or state, the per-user socket
 * cap, and live delivery to sockets that connect into a busy room.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from '../amplify/core/keys';
import { LIMITS } from '../amplify/core/protocol';
import { cognitoCall, localSignIn, LOCAL_PASSWORD } from '../local/cognito';
import { dynamoClient } from '../local/dynamodb';
import type { LocalStack } from '../local/stack';
import { cognitoLocalKey, decode, signJwt } from './support/jwt';
import { TestClient } from './support/client';
import { testStack } from './support/stack';

let stack: LocalStack;
let db: DynamoDBDocumentClient;
const open: TestClient[] = [];

beforeAll(async () => {
  // A handshake that takes a while, as over a real network: posts in that window answer 410.
  stack = await testStack({ gateway: { handshakeDelayMs: 40 } });
  db = DynamoDBDocumentClient.from(dynamoClient(stack.dynamoEndpoint));
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  db?.destroy();
  await stack?.close();
});

async function client(token: string): Promise<TestClient> {
  const c = await TestClient.connect(stack.websocketUrl, token);
  open.push(c);
  return c;
}
const url = (token: string) => `${stack.websocketUrl}?token=${encodeURIComponent(token)}`;

/** Signs up an account with its own email, so two accounts can ask for look-alike names. */
async function signUp(email: string, name: string): Promise<string> {
  const { endpoint, clientId } = stack.cognito;
  try {
    await cognitoCall(endpoint, 'SignUp', {
      ClientId: clientId,
      Username: email,
      Password: LOCAL_PASSWORD,
      UserAttributes: [
        { Name: 'email', Value: email },
        { Name: 'preferred_username', Value: name },
      ],
    });
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

async function accountExists(email: string): Promise<boolean> {
  const { endpoint, userPoolId } = stack.cognito;
  return cognitoCall(endpoint, 'AdminGetUser', { UserPoolId: userPoolId, Username: email }).then(
    () => true,
    (err: Error) => (err.name === 'UserNotFoundException' ? false : Promise.reject(err)),
  );
}

describe('one chat name per person', () => {
  it('refuses a second account for a name that differs only in case or look-alike letters, before it exists', async () => {
    expect(await signUp('ana-first@parley.local', 'ana448466')).toBe('ok');
    for (const [email, name] of [
      ['ana-second@parley.local', 'ANA448466'],
      ['ana-third@parley.local', 'ana44846b'.replace('b', '6')],
      ['ana-fourth@parley.local', 'AnA44B466'.replace('B', '8')],
    ] as const) {
      const answer = await signUp(email, name);
      expect(answer, name).toMatch(/name_taken/);
      expect(await accountExists(email)).toBe(false);
    }
  });

  it('refuses names with look-alike scripts, bidi overrides, zero-width or control characters, or nothing at all', async () => {
    const bad = ['аna', 'ana\u202Egnp', 'a\u200Bna', 'an\u0007a', '   ', '', '-ana', 'ana bob'];
    for (const [i, name] of bad.entries()) {
      const email = `bad${i}@parley.local`;
      expect(await signUp(email, name), JSON.stringify(name)).toMatch(/bad_name|preferred_username/);
      expect(await accountExists(email)).toBe(false);
    }
  });

  it('refuses a token whose name is not the one its user claimed: a rename, or a forged name', async () => {
    const token = await stack.token('rena');
    const ok = await client(token);
    expect((await ok.reply({ action: 'ping' })).type).toBe('pong');

    // The name is immutable in the pool, so the user cannot rename themselves through Cognito...
    const { endpoint } = stack.cognito;
    const signIn = await localSignIn(stack.cognito, 'rena@parley.local');
    const rename = cognitoCall(endpoint, 'UpdateUserAttributes', {
      AccessToken: signIn.AccessToken,
      UserAttributes: [{ Name: 'preferred_username', Value: 'renamed' }],
    });
    await expect(rename).rejects.toThrow(/immutable/);

    // ...and a token that carries another name than its user's claim opens nothing, signed or not:
    // a name nobody claimed,
    const unclaimed = signJwt({ ...decode(token), preferred_username: 'renamed' }, cognitoLocalKey());
    expect(await TestClient.refusal(url(unclaimed))).toBe(403);
    // or someone else's.
    await stack.token('victor');
    const forged = signJwt({ ...decode(token), preferred_username: 'victor' }, cognitoLocalKey());
    expect(await TestClient.refusal(url(forged))).toBe(403);
  });

  it('sends an invitation to the person who claimed the name, not whoever connects with it first', async () => {
    const owner = await client(await stack.token('ivy'));
    const invitee = await client(await stack.token('ines'));
    const joined = await owner.request('joined', { action: 'createroom', private: true, name: 'Plans', invite: ['INES'] });
    if (joined.type !== 'joined') throw new Error(joined.message);
    expect(joined.room.id).toMatch(/^p[0-9a-f]{30}$/);
    expect((await invitee.request('history', { action: 'history', room: joined.room.id })).type).toBe('history');
  });
});

describe('sessions end when tokens end', () => {
  it('answers token_expired after the token expires, then closes the socket', async () => {
    const real = decode(await stack.token('tina'));
    const exp = Math.floor(Date.now() / 1000) + 2;
    const c = await client(signJwt({ ...real, exp }, cognitoLocalKey()));
    expect((await c.reply({ action: 'listrooms' })).type).toBe('rooms');
    // The handlers run in this process and read Date.now: move the clock past exp rather than wait for it.
    vi.useFakeTimers({ toFake: ['Date'], now: exp * 1000 + 50 });
    try {
      const answer = await c.reply({ action: 'sendmessage', message: 'late', clientMsgId: 'late-1' });
      expect(answer).toMatchObject({ type: 'error', code: 'token_expired', clientMsgId: 'late-1' });
      expect((await c.closed).code).toBe(1000);
    } finally {
      vi.useRealTimers();
    }
    // A fresh token opens a working socket.
    const again = await client(await stack.token('tina'));
    expect((await again.reply({ action: 'sendmessage', message: 'back', clientMsgId: 'late-1' })).type).toBe('ack');
  });

  it('answers session_lost when the server no longer knows the socket, then closes it', async () => {
    const c = await client(await stack.token('lost'));
    expect((await c.reply({ action: 'ping' })).type).toBe('pong');
    const [conn] = stack.gateway.listConnections().filter((x) => x.authorizer.userName === 'lost');
    await db.send(new DeleteCommand({ TableName: stack.tables.connections, Key: keys.connection(conn!.connectionId) }));
    expect(await c.reply({ action: 'listrooms' })).toMatchObject({ type: 'error', code: 'session_lost' });
    expect((await c.closed).code).toBe(1000);
  });
});

describe('fair limits per user', () => {
  it(`refuses the ${LIMITS.maxConnectionsPerUser + 1}th socket of one user with HTTP 429`, async () => {
    const token = await stack.token('many');
    const tabs = [];
    for (let i = 0; i < LIMITS.maxConnectionsPerUser; i++) tabs.push(await client(token));
    expect(await TestClient.refusal(url(token))).toBe(429);
    await tabs[0]!.close();
    // The slot frees when its $disconnect has run; the gateway runs it right after the close.
    let reopened: TestClient | undefined;
    for (let i = 0; i < 50 && !reopened; i++) reopened = await client(token).catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)));
    expect(reopened).toBeDefined();
  });
});

describe('refusals are always answered to a client that listens', () => {
  it('answers every refused room creation, however close together', async () => {
    const c = await client(await stack.token('maker'));
    for (let i = 0; i < LIMITS.roomCreateBurst; i++) expect((await c.reply({ action: 'createroom', room: `made-${i}` })).type).toBe('joined');
    const refused = await Promise.all([0, 1, 2].map((i) => c.reply({ action: 'createroom', room: `late-${i}` })));
    expect(refused.map((r) => r.type === 'error' && r.code)).toEqual(['rate_limited', 'rate_limited', 'rate_limited']);
  });

  it('answers a flooder at most every so often, but always after it waited as told', async () => {
    const c = await client(await stack.token('hasty'));
    // The clock held still (the handlers read Date.now in this process): no token refills and no
    // report window passes during the flood, so the figures are exact, and waiting costs no time.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      for (let i = 0; i < LIMITS.rateBurst + 15; i++) c.send({ action: 'listrooms', reqId: `f${i}` });
      // Barriers: a pong means every frame reached a handler; once they settled, a second pong follows all their replies.
      expect((await c.reply({ action: 'ping' })).type).toBe('pong');
      await stack.gateway.settled();
      expect((await c.reply({ action: 'ping' })).type).toBe('pong');
      const answered = c.events.filter((e) => e.type === 'rooms');
      const refusals = c.events.filter((e) => e.type === 'error' && e.code === 'rate_limited');
      // The burst is answered; of the 15 past it, one is told and 14 go unanswered.
      expect(answered).toHaveLength(LIMITS.rateBurst);
      expect(refusals).toHaveLength(1);
      // Waiting as told, then asking again: answered every time, admitted or refused (reply() fails after 5 s of silence).
      let wait = refusals[0]?.type === 'error' ? (refusals[0].retryAfterMs ?? 0) : 0;
      expect(wait).toBeGreaterThan(0);
      const outcomes: string[] = [];
      for (let i = 0; i < 6; i++) {
        vi.setSystemTime(Date.now() + wait);
        const res = await c.reply({ action: 'listrooms' });
        outcomes.push(res.type);
        wait = res.type === 'error' ? (res.retryAfterMs ?? 100) : 0;
      }
      // At 10 a second, waiting as told earns a token; asking again at once is refused, and still told.
      expect(outcomes).toEqual(['rooms', 'error', 'rooms', 'error', 'rooms', 'error']);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('live delivery never silently stops', () => {
  it('delivers the next message live to every socket that connected while the room was busy', async () => {
    const sender = await client(await stack.token('busy'));
    let talking = true;
    let n = 0;
    const chatter = (async () => {
      while (talking) {
        // Paced under the per-user rate; each send waits for its ack, so the room is busy all along.
        await sender.reply({ action: 'sendmessage', message: `chatter ${n++}` }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 110));
      }
    })();
    const tokens = await Promise.all(Array.from({ length: 12 }, (_, i) => stack.token(`burst${i}`)));
    const burst: TestClient[] = [];
    // 12 people, 4 sockets each, connecting 8 at a time into the busy lobby.
    const all = tokens.flatMap((t) => [t, t, t, t]);
    for (let i = 0; i < all.length; i += 8) burst.push(...(await Promise.all(all.slice(i, i + 8).map((t) => client(t)))));
    talking = false;
    await chatter;
    expect(n).toBeGreaterThan(3);
    const marker = `marker ${Date.now()}`;
    expect((await sender.reply({ action: 'sendmessage', message: marker })).type).toBe('ack');
    const got = await Promise.all(burst.map((c) => c.next('message', (m) => m.text === marker).then(() => true, () => false)));
    expect(got.filter((x) => !x)).toHaveLength(0);
  }, 60_000);
});
