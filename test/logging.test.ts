/**
 * Logs that help at 3 a.m.: the real handlers on DynamoDB Local, their
 * output captured and parsed line by line. Every line is one JSON object
 * naming its service and the request and socket it belongs to; a failure
 * keeps its stack and its cause chain; no line ever holds a token, and a
 * refused token says why (the aws-jwt-verify class and its message).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onSdkClient } from '../amplify/core/deps';
import { asFunction } from '../local/iam';
import type { LocalStack } from '../local/stack';
import { TestClient } from './support/client';
import { cognitoLocalKey, decode, signJwt } from './support/jwt';
import { closeStack, testStack } from './support/stack';

type Line = Record<string, unknown> & { level: string; message: string; service: string };
type Handler = (event: unknown, context?: { awsRequestId: string }) => Promise<unknown>;

let stack: LocalStack;
let good: string;
let authorize: Handler;
let chat: Handler;
let disconnect: Handler;
/** Everything the handlers print, as printed. */
const printed: string[] = [];
/** While set, every DynamoDB call fails with it. */
let dynamoFault: Error | undefined;

beforeAll(async () => {
  for (const method of ['debug', 'info', 'warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
  }
  // Debug too: the most a production log could ever carry, so the token check covers every line there is.
  stack = await testStack({ env: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
  good = await stack.token('logan');
  onSdkClient((client) => {
    if (!(client instanceof DynamoDBClient)) return;
    client.middlewareStack.add(
      (next) => async (args) => {
        if (dynamoFault) throw dynamoFault;
        return next(args);
      },
      { step: 'initialize', name: 'loggingTestFault' },
    );
  });
  const modules = {
    authorizer: await import('../amplify/functions/authorizer/handler'),
    chat: await import('../amplify/functions/chat/handler'),
    disconnect: await import('../amplify/functions/disconnect/handler'),
  };
  // Called directly, but as the function, so its AWS calls count against that function's grants.
  const fn = (name: keyof typeof modules) => asFunction(name, modules[name].handler as unknown as Handler);
  authorize = fn('authorizer');
  chat = fn('chat');
  disconnect = fn('disconnect');
});
afterEach(() => {
  dynamoFault = undefined;
});
afterAll(async () => {
  vi.restoreAllMocks();
  await closeStack(stack);
});

/** What `run` printed, each line parsed: a line that is not one JSON object fails the test. */
async function linesOf(run: () => Promise<unknown>): Promise<Line[]> {
  const from = printed.length;
  await run();
  return printed.slice(from).map((text) => {
    const parsed: unknown = JSON.parse(text);
    expect(parsed, text).toMatchObject({ level: expect.any(String), message: expect.any(String), service: expect.stringMatching(/^parley-/) });
    return parsed as Line;
  });
}

/** The token and its payload and signature: none may appear in a log, alone or inside anything else. */
function expectNoToken(lines: readonly Line[], token: string): void {
  const [, payload = '', signature = ''] = token.split('.');
  const text = JSON.stringify(lines);
  for (const secret of [token, payload, signature, encodeURIComponent(token)].filter((s) => s.length >= 8)) {
    expect(text.includes(secret), `a log line holds token text ${secret.slice(0, 12)}…`).toBe(false);
  }
}

const ids = (n: string) => ({ requestId: `req-${n}`, connectionId: `conn-${n}` });

/** An authorizer event that carries the token everywhere API Gateway might put it. */
function authorizerEvent(token: string, n: string): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:local:000000000000:local/production/$connect',
    headers: { Host: 'localhost', 'Sec-WebSocket-Protocol': token, Cookie: `token=${token}` },
    multiValueHeaders: { 'Sec-WebSocket-Protocol': [token] },
    queryStringParameters: { token },
    multiValueQueryStringParameters: { token: [token] },
    requestContext: { ...ids(n), routeKey: '$connect', eventType: 'CONNECT' },
  } as unknown as APIGatewayRequestAuthorizerEvent;
}

function chatEvent(n: string, body: unknown) {
  return {
    requestContext: {
      ...ids(n),
      routeKey: '$default',
      eventType: 'MESSAGE',
      domainName: '127.0.0.1',
      stage: 'production',
      authorizer: { principalId: 'u-logan', userId: 'u-logan', userName: 'logan' },
    },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

const now = () => Math.floor(Date.now() / 1000);

describe('authorizer logs', () => {
  const refusals: [string, () => string, RegExp][] = [
    ['an expired token', () => signJwt({ ...decode(good), iat: now() - 7200, exp: now() - 3600 }, cognitoLocalKey()), /^JwtExpiredError: Token expired at \d{4}-\d\d-\d\dT/],
    ['a token for another app client', () => signJwt({ ...decode(good), aud: 'someone-elses-client' }, cognitoLocalKey()), /^JwtInvalidAudienceError: \S/],
    ['a tampered payload', () => `${good.split('.')[0]}.${Buffer.from(JSON.stringify({ ...decode(good), preferred_username: 'admin' })).toString('base64url')}.${good.split('.')[2]}`, /^JwtInvalidSignatureError: \S/],
    ['garbage', () => 'not-a-jwt-at-all', /^JwtParseError: \S/],
  ];

  it.each(refusals)('names why it refused %s, with the request ids and without the token', async (_name, make, reason) => {
    const token = make();
    const lines = await linesOf(() => authorize(authorizerEvent(token, 'deny'), { awsRequestId: 'lambda-deny' }));
    expect(lines).toEqual([
      expect.objectContaining({ level: 'INFO', message: 'token rejected', service: 'parley-authorizer', reason: expect.stringMatching(reason) }),
    ]);
    expect(lines[0]).toMatchObject({ ...ids('deny'), routeKey: '$connect', eventType: 'CONNECT', awsRequestId: 'lambda-deny' });
    expectNoToken(lines, token);
  });

  it('logs an accepted token without the token', async () => {
    const lines = await linesOf(() => authorize(authorizerEvent(good, 'allow'), { awsRequestId: 'lambda-allow' }));
    expect(lines.map((l) => l.message)).toEqual(['token accepted']);
    expect(lines[0]).toMatchObject({ ...ids('allow'), awsRequestId: 'lambda-allow', userId: decode(good).sub });
    expectNoToken(lines, good);
  });

  it('logs a failure of its own (the name registry) as an error with the cause, still without the token', async () => {
    // A user not seen yet, so the registry is asked rather than this container's memory of it.
    const token = await stack.token('logan-two');
    dynamoFault = Object.assign(new Error('Rate of requests exceeds the allowed throughput', { cause: new Error('HTTP 400') }), {
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    const lines = await linesOf(() => authorize(authorizerEvent(token, 'ours'), { awsRequestId: 'lambda-ours' }));
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'token not verified',
        reason: 'ProvisionedThroughputExceededException: Rate of requests exceeds the allowed throughput',
        ...ids('ours'),
        error: expect.objectContaining({ name: 'ProvisionedThroughputExceededException', stack: expect.stringContaining('\n    at '), cause: expect.objectContaining({ message: 'HTTP 400' }) }),
      }),
    ]);
    expectNoToken(lines, token);
  });

  it('keeps tokens out of every line of a real connect, refused or accepted, through the gateway', async () => {
    const expired = signJwt({ ...decode(good), exp: now() - 60 }, cognitoLocalKey());
    const refused = await linesOf(async () => expect(await TestClient.refusal(`${stack.websocketUrl}?token=${encodeURIComponent(expired)}`)).toBe(403));
    expect(refused.map((l) => [l.message, l.reason])).toEqual([['token rejected', expect.stringMatching(/^JwtExpiredError: /)]]);
    expectNoToken(refused, expired);

    const session = await linesOf(async () => {
      const c = await TestClient.connect(stack.websocketUrl, good);
      await c.request('ack', { action: 'sendmessage', message: 'hello logs' });
      await c.close();
      // $disconnect runs after the close; its line is part of the session.
      await vi.waitFor(() => expect(printed.some((l) => l.includes('"message":"disconnected"'))).toBe(true));
    });
    expect(new Set(session.map((l) => `${l.service} ${l.message}`))).toEqual(
      new Set(['parley-authorizer token accepted', 'parley-connect connected', 'parley-chat action', 'parley-chat fanout', 'parley-disconnect disconnected']),
    );
    for (const line of session) {
      expect(line, line.message).toMatchObject({ requestId: expect.any(String), connectionId: expect.any(String), awsRequestId: expect.any(String) });
    }
    // One socket: one connectionId on every line of it.
    expect(new Set(session.map((l) => l.connectionId)).size).toBe(1);
    expectNoToken([...refused, ...session], good);
  });
});

describe('the deployed authorizer bundle', () => {
  it('names the refusal in its minified build too, on stdout as Lambda prints it', async () => {
    // Minification renames classes, so a reason read off `constructor.name` would say "e" or "Error" in AWS.
    // Inside the checkout, so the bundle's external @aws-sdk imports resolve from node_modules.
    mkdirSync(resolve('.local'), { recursive: true });
    const dir = mkdtempSync(join(resolve('.local'), 'logging-test-'));
    try {
      const outfile = join(dir, 'authorizer.mjs');
      await build({
        entryPoints: [resolve('amplify/functions/authorizer/handler.ts')],
        outfile, bundle: true, platform: 'node', format: 'esm', target: 'node22', mainFields: ['module', 'main'], minify: true,
        external: ['@aws-sdk/*', '@smithy/*'], banner: { js: "import{createRequire as __r}from'node:module';const require=__r(import.meta.url);" },
        logLevel: 'error',
      });
      // As in Lambda: the runtime's variable set at cold start, so Powertools writes to stdout itself.
      process.env.AWS_LAMBDA_FUNCTION_NAME = 'parley-authorizer-test';
      const bundled = (await import(pathToFileURL(outfile).href)) as { handler: Handler };
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      const expired = signJwt({ ...decode(good), exp: now() - 60 }, cognitoLocalKey());
      const written: string[] = [];
      const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      const viaConsole = await linesOf(async () => {
        await bundled.handler(authorizerEvent(expired, 'min'), { awsRequestId: 'lambda-min' });
      }).finally(() => write.mockRestore());
      expect(viaConsole).toEqual([]);
      const lines = written.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
      expect(lines).toEqual([
        expect.objectContaining({ level: 'INFO', message: 'token rejected', reason: expect.stringMatching(/^JwtExpiredError: Token expired at /), ...ids('min'), awsRequestId: 'lambda-min' }),
      ]);
      expectNoToken(lines, expired);
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('failure logs', () => {
  it('log an internal failure as an error with its stack and its whole cause chain', async () => {
    const root = new RangeError('innermost reason');
    const middle = new TypeError('socket layer gave up', { cause: root });
    dynamoFault = new Error('DynamoDB refused the call', { cause: middle });
    const lines = await linesOf(() => chat(chatEvent('boom', { action: 'listrooms', reqId: 'r-1' }), { awsRequestId: 'lambda-boom' }));
    const failed = lines.filter((l) => l.level === 'ERROR');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      message: 'action failed',
      service: 'parley-chat',
      code: 'internal',
      action: 'listrooms',
      reqId: 'r-1',
      ...ids('boom'),
      awsRequestId: 'lambda-boom',
      error: {
        name: 'Error',
        message: 'DynamoDB refused the call',
        stack: expect.stringMatching(/^Error: DynamoDB refused the call\n\s+at /),
        cause: {
          name: 'TypeError',
          message: 'socket layer gave up',
          stack: expect.stringMatching(/^TypeError: socket layer gave up\n\s+at /),
          cause: { name: 'RangeError', message: 'innermost reason', stack: expect.stringMatching(/^RangeError: innermost reason\n/) },
        },
      },
    });
  });

  it('log a failed $disconnect as an error, with the connection it was for', async () => {
    dynamoFault = new Error('table is gone', { cause: new Error('ResourceNotFoundException') });
    const lines = await linesOf(() => disconnect({ requestContext: { ...ids('gone'), routeKey: '$disconnect', eventType: 'DISCONNECT', domainName: '127.0.0.1', stage: 'production' } }));
    expect(lines).toEqual([
      expect.objectContaining({ level: 'ERROR', message: 'disconnect failed', ...ids('gone'), error: expect.objectContaining({ message: 'table is gone', cause: expect.objectContaining({ message: 'ResourceNotFoundException' }) }) }),
    ]);
  });
});

describe('per-invocation keys', () => {
  it('never carry over to the next invocation of a warm container, nor across concurrent ones', async () => {
    const first = await linesOf(() => chat(chatEvent('one', { action: 'ping', reqId: 'p-1' }), { awsRequestId: 'lambda-one' }));
    // The next one has no Lambda context at all: nothing of the first may fill the gap.
    const second = await linesOf(() => chat(chatEvent('two', { action: 'ping', reqId: 'p-2' })));
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    for (const l of first) expect(l).toMatchObject({ ...ids('one'), awsRequestId: 'lambda-one' });
    for (const l of second) {
      expect(l).toMatchObject(ids('two'));
      expect(l).not.toHaveProperty('awsRequestId');
    }

    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const together = await linesOf(() => Promise.all(names.map((n) => chat(chatEvent(n, { action: 'ping', reqId: `p-${n}` }), { awsRequestId: `lambda-${n}` }))));
    expect(together.length).toBeGreaterThanOrEqual(names.length);
    for (const l of together) {
      const n = String(l.requestId).slice('req-'.length);
      expect(l).toMatchObject({ ...ids(n), awsRequestId: `lambda-${n}`, reqId: `p-${n}` });
    }
  });
});
