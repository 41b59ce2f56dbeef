/**
 * The local API Gateway stand-in, driven the way production drives API
 * Gateway: real `ws` clients on one side, tiny Lambda-style handlers and the
 * real @connections SDK client on the other. Every assertion is an outcome a
 * client or handler could observe.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { startGateway, type GatewayAuthorizerEvent, type GatewayRouteEvent, type GatewayScheduler, type LocalGateway } from '../local/gateway';

// ---------------------------------------------------------------- helpers

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => T | undefined | false, what = 'condition', timeoutMs = 3000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await pause(5);
  }
}

/**
 * A barrier on one socket: the gateway answers a ping after everything it
 * wrote before, so once the pong is in, anything it had sent has arrived.
 * False if the socket closed instead.
 */
function roundTrip(ws: WebSocket, closed: Promise<unknown>): Promise<boolean> {
  return Promise.race([new Promise<boolean>((resolve) => (ws.once('pong', () => resolve(true)), ws.ping())), closed.then(() => false)]);
}

/** Gateway timers that fire only when the test moves time on: a 2-hour cap in no time, and never early or late. */
function manualScheduler(): GatewayScheduler & { advance(ms: number): void } {
  let now = 0;
  const pending = new Set<{ at: number; fn: () => void }>();
  return {
    schedule(ms, fn) {
      const timer = { at: now + ms, fn };
      pending.add(timer);
      return () => void pending.delete(timer);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...pending].filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        pending.delete(next);
        now = next.at;
        next.fn();
      }
      now = end;
    },
  };
}

interface Client {
  ws: WebSocket;
  frames: string[];
  closed: Promise<{ code: number; reason: string }>;
}
class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}`);
  }
}

function connect(url: string, protocols?: string[]): Promise<Client> {
  const ws = new WebSocket(url, protocols, { headers: { 'User-Agent': 'gateway-test/1.0' } });
  const frames: string[] = [];
  ws.on('message', (data) => frames.push(String(data)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, frames, closed }));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += String(chunk)));
      res.on('end', () => (req.destroy(), reject(new Refused(res.statusCode ?? 0, body))));
    });
    ws.once('error', reject);
  });
}

async function refusal(url: string): Promise<Refused> {
  const err: unknown = await connect(url).then(
    (c) => (c.ws.close(), new Error('connection was accepted')),
    (e: unknown) => e,
  );
  if (err instanceof Refused) return err;
  throw err;
}

/** The SDK error a management call failed with (name and HTTP status), or a failure if it succeeded. */
async function sdkError(call: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await call;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the management call to fail');
}

const management = (endpoint: string) =>
  new ApiGatewayManagementApiClient({ endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
const bytes = (s: string) => new TextEncoder().encode(s);
const ID = /^[A-Za-z0-9+/]{15}=$/;

/** A masked client frame built by hand, so a test controls exactly how its bytes reach the server. */
function clientFrame(payload: Buffer, { fin = true, opcode = 1 } = {}): Buffer {
  const len = payload.length;
  const ext = len < 126 ? Buffer.alloc(0) : len < 65536 ? Buffer.alloc(2) : Buffer.alloc(8);
  if (len >= 65536) ext.writeBigUInt64BE(BigInt(len));
  else if (len >= 126) ext.writeUInt16BE(len);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | (len < 126 ? len : len < 65536 ? 126 : 127)]), ext, mask, body]);
}

async function rawClient(port: number, path: string): Promise<{ socket: Socket; received: () => Buffer }> {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  await once(socket, 'connect');
  const key = randomBytes(16).toString('base64');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const end = await until(() => (buf.includes('\r\n\r\n') ? buf.indexOf('\r\n\r\n') + 4 : false), 'handshake');
  expect(buf.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
  return { socket, received: () => buf.subarray(end) };
}

/** Writes a frame with its header split across separate TCP writes, as a slow network might deliver it. */
async function writeSplit(socket: Socket, frame: Buffer, cuts: number[]) {
  let at = 0;
  for (const cut of [...cuts, frame.length]) {
    socket.write(frame.subarray(at, cut));
    at = cut;
    await pause(15);
  }
}

// ---------------------------------------------------------------- the main gateway

const events: { route: string; event: GatewayRouteEvent }[] = [];
const authEvents: GatewayAuthorizerEvent[] = [];
const connectProbes = new Map<string, { name: string; status: number | undefined }>();
const eventsFor = (id: string, route?: string) => events.filter((e) => e.event.requestContext.connectionId === id && (!route || e.route === route));
const disconnectsOf = (id: string) => until(() => eventsFor(id, '$disconnect').length > 0 && eventsFor(id, '$disconnect'), '$disconnect');

let gw: LocalGateway;
let sdk: ApiGatewayManagementApiClient;

function allow(effect: 'Allow' | 'Deny', resource: string): APIGatewayAuthorizerResult {
  return {
    principalId: 'user-1',
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
    context: { userName: 'alice', level: 3, admin: true },
  };
}

beforeAll(async () => {
  gw = await startGateway({
    integrationTimeoutMs: 300,
    authorizer: {
      async handler(event: GatewayAuthorizerEvent) {
        authEvents.push(event);
        const token = event.queryStringParameters.token;
        if (token === 'unauthorized') throw new Error('Unauthorized');
        if (token === 'crash') throw new Error('database on fire');
        if (token === 'slow') await pause(450);
        if (token === 'badcontext') return { ...allow('Allow', event.methodArn), context: { nested: { no: 'objects' } } };
        if (token === 'deny') return allow('Deny', event.methodArn);
        if (token === 'elsewhere') return allow('Allow', 'arn:aws:execute-api:local:000000000000:other/production/$connect');
        if (token === 'wildcard') return allow('Allow', 'arn:aws:execute-api:local:*:local/*');
        return allow('Allow', event.methodArn);
      },
    },
    routes: {
      async $connect(event: GatewayRouteEvent) {
        events.push({ route: '$connect', event });
        const q = event.queryStringParameters ?? {};
        if (q.throw) throw new Error('connect handler crashed');
        if (q.reject) return { statusCode: Number(q.reject) };
        if (q.probe) {
          const id = event.requestContext.connectionId;
          connectProbes.set(id, await sdkError(sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: bytes('too early') }))));
        }
        const offered = event.headers?.['Sec-WebSocket-Protocol'];
        if (q.protocol && offered) return { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': offered.split(',')[0]!.trim() } };
        return { statusCode: 200 };
      },
      async $disconnect(event: GatewayRouteEvent) {
        events.push({ route: '$disconnect', event });
      },
      async $default(event: GatewayRouteEvent) {
        events.push({ route: '$default', event });
      },
      // A handler answering through @connections, exactly as the production handlers do.
      async sendmessage(event: GatewayRouteEvent) {
        events.push({ route: 'sendmessage', event });
        const { connectionId } = event.requestContext;
        await sdk.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: bytes(`echo:${event.body}`) }));
        return { statusCode: 200 };
      },
      async boom(event: GatewayRouteEvent) {
        events.push({ route: 'boom', event });
        throw new Error('handler bug');
      },
      async slow(event: GatewayRouteEvent) {
        events.push({ route: 'slow', event });
        await pause(450);
      },
    },
  });
  sdk = management(gw.managementEndpoint);
});

afterAll(async () => {
  await gw?.close();
  sdk?.destroy();
});

/** Opens an authorized connection and learns its id from the $connect event. */
async function open(query = '', protocols?: string[]): Promise<Client & { id: string }> {
  const tag = randomBytes(6).toString('hex');
  const client = await connect(`${gw.url}?token=good&tag=${tag}${query}`, protocols);
  const id = events.find((e) => e.route === '$connect' && e.event.queryStringParameters?.tag === tag)!.event.requestContext.connectionId;
  return { ...client, id };
}

describe('$connect and the REQUEST authorizer', () => {
  it('answers 401 for a missing or empty token without invoking the authorizer', async () => {
    const before = gw.stats().invocations.$authorizer ?? 0;
    expect((await refusal(gw.url)).status).toBe(401);
    expect((await refusal(`${gw.url}?token=`)).status).toBe(401);
    expect(gw.stats().invocations.$authorizer ?? 0).toBe(before);
  });

  it('maps Deny, a non-matching resource, Unauthorized, a crash, a timeout and a bad context to 403/403/401/500/500/500', async () => {
    const connectsBefore = gw.stats().invocations.$connect ?? 0;
    const cases = { deny: 403, elsewhere: 403, unauthorized: 401, crash: 500, slow: 500, badcontext: 500 };
    for (const [token, status] of Object.entries(cases)) {
      expect([token, (await refusal(`${gw.url}?token=${token}`)).status]).toEqual([token, status]);
    }
    expect(gw.stats().invocations.$connect ?? 0).toBe(connectsBefore);
    expect(gw.connectionCount()).toBe(0);
  });

  it('passes the authorizer an API Gateway REQUEST event, and $connect the same connection with the authorizer context', async () => {
    const c = await open('&room=a&room=b');
    const auth = authEvents.find((e) => e.requestContext.connectionId === c.id)!;
    expect(auth).toMatchObject({
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:local:000000000000:local/production/$connect',
      queryStringParameters: { token: 'good', room: 'b' },
      multiValueQueryStringParameters: { room: ['a', 'b'] },
      stageVariables: {},
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        messageDirection: 'IN',
        stage: 'production',
        apiId: 'local',
        domainName: `127.0.0.1:${gw.port}`,
        identity: { sourceIp: '127.0.0.1', userAgent: 'gateway-test/1.0' },
      },
    });
    expect(auth.headers['User-Agent']).toBe('gateway-test/1.0');
    expect(auth.requestContext.requestTime).toMatch(/^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
    expect(auth.requestContext).not.toHaveProperty('authorizer');
    expect(c.id).toMatch(ID);

    const [connect] = eventsFor(c.id, '$connect');
    expect(connect!.event).toMatchObject({ isBase64Encoded: false, queryStringParameters: { token: 'good' }, requestContext: { eventType: 'CONNECT', connectionId: c.id } });
    expect(connect!.event.requestContext.authorizer).toEqual({ principalId: 'user-1', userName: 'alice', level: 3, admin: true, integrationLatency: expect.any(Number) });
    expect(connect!.event.headers?.['Sec-WebSocket-Key']).toBeTruthy();
    expect(connect!.event.requestContext.requestId).toBe(auth.requestContext.requestId);
    expect(gw.listConnections().find((x) => x.connectionId === c.id)?.authorizer.userName).toBe('alice');
    c.ws.close();
  });

  it('accepts a wildcard Allow resource', async () => {
    const c = await connect(`${gw.url}?token=wildcard`);
    c.ws.close();
    expect((await c.closed).code).toBe(1005);
  });

  it('refuses the handshake with $connect’s own non-2xx status, or 502 when it throws, and never runs $disconnect', async () => {
    const disconnectsBefore = gw.stats().invocations.$disconnect ?? 0;
    expect((await refusal(`${gw.url}?token=good&reject=403`)).status).toBe(403);
    expect((await refusal(`${gw.url}?token=good&reject=429`)).status).toBe(429);
    expect((await refusal(`${gw.url}?token=good&throw=1`)).status).toBe(502);
    // Barrier: every handshake and invocation has finished, so a $disconnect would have run by now.
    await gw.settled();
    expect(gw.stats().invocations.$disconnect ?? 0).toBe(disconnectsBefore);
    expect(gw.connectionCount()).toBe(0);
  });

  it('answers 410 to @connections while $connect is still running, and 200 once the socket is open', async () => {
    const c = await open('&probe=1');
    expect(connectProbes.get(c.id)).toEqual({ name: 'GoneException', status: 410 });
    await sdk.send(new PostToConnectionCommand({ ConnectionId: c.id, Data: bytes('now') }));
    await until(() => c.frames.includes('now'), 'post after connect');
    c.ws.close();
  });

  it('selects a subprotocol only when $connect returns Sec-WebSocket-Protocol', async () => {
    const chosen = await open('&protocol=1', ['parley.v1', 'other']);
    expect(chosen.ws.protocol).toBe('parley.v1');
    chosen.ws.close();
    await expect(connect(`${gw.url}?token=good`, ['parley.v1'])).rejects.toThrow(/no subprotocol/);
  });

  it('answers 403 to an upgrade on another stage', async () => {
    expect((await refusal(gw.url.replace('/production', '/staging'))).status).toBe(403);
  });
});

describe('messages', () => {
  it('routes on a case-sensitive string action, falling back to $default for anything else', async () => {
    const c = await open();
    const bodies = ['{"action":"sendmessage","text":"hi"}', '{"action":"SendMessage"}', 'not json', '{"action":5}', '["sendmessage"]'];
    for (const b of bodies) c.ws.send(b);
    await until(() => c.frames.includes(`echo:${bodies[0]}`), 'echo through @connections');
    const msgs = await until(() => eventsFor(c.id).filter((e) => e.event.requestContext.eventType === 'MESSAGE').length === 5 && eventsFor(c.id), '5 messages');
    const routeOf = (body: string) => msgs.find((e) => e.event.body === body)?.route;
    expect(bodies.map(routeOf)).toEqual(['sendmessage', '$default', '$default', '$default', '$default']);
    const send = msgs.find((e) => e.route === 'sendmessage')!.event;
    expect(send).toMatchObject({ isBase64Encoded: false, requestContext: { routeKey: 'sendmessage', eventType: 'MESSAGE', stage: 'production', connectionId: c.id } });
    expect(send.requestContext.messageId).toMatch(ID);
    expect(send.requestContext.authorizer?.userName).toBe('alice');
    c.ws.close();
  });

  it('delivers a binary frame to $default as base64', async () => {
    const c = await open();
    c.ws.send(Buffer.from([0, 1, 2, 255]));
    const [e] = await until(() => eventsFor(c.id, '$default').length === 1 && eventsFor(c.id, '$default'), 'binary message');
    expect(e!.event).toMatchObject({ body: 'AAEC/w==', isBase64Encoded: true });
    c.ws.close();
  });

  it('tells the client "Internal server error" when a route throws or times out, without blocking other messages', async () => {
    const c = await open();
    c.ws.send('{"action":"slow"}');
    c.ws.send('{"action":"boom"}');
    c.ws.send('{"action":"sendmessage"}');
    // The echo arrives while the slow route is still running: invocations are concurrent.
    await until(() => c.frames.includes('echo:{"action":"sendmessage"}'), 'echo');
    const errors = await until(() => c.frames.filter((f) => f.includes('Internal server error')).length === 2 && c.frames, 'two error frames');
    expect(c.frames.indexOf('echo:{"action":"sendmessage"}')).toBeLessThan(errors.findLastIndex((f) => f.includes('Internal server error')));
    const requestIds = eventsFor(c.id).filter((e) => e.route === 'boom' || e.route === 'slow').map((e) => e.event.requestContext.requestId);
    for (const frame of errors.filter((f) => f.startsWith('{'))) {
      const parsed = JSON.parse(frame) as { message: string; connectionId: string; requestId: string };
      expect(parsed.message).toBe('Internal server error');
      expect(parsed.connectionId).toBe(c.id);
      expect(requestIds).toContain(parsed.requestId);
    }
    c.ws.close();
  });
});

describe('frame and message quotas', () => {
  it('closes with 1009 on a single 40 KB frame and does not route it', async () => {
    const c = await open();
    c.ws.send('x'.repeat(40_000));
    expect(await c.closed).toEqual({ code: 1009, reason: 'Frame too large' });
    expect(eventsFor(c.id).some((e) => e.event.body?.length === 40_000)).toBe(false);
    const [disconnect] = await disconnectsOf(c.id);
    expect(disconnect!.event.requestContext).toMatchObject({ disconnectStatusCode: 1009, disconnectReason: 'Frame too large' });
  });

  it('closes with 1009 on a 70 KB frame (64-bit length header)', async () => {
    const c = await open();
    c.ws.send(Buffer.alloc(70_000));
    expect((await c.closed).code).toBe(1009);
  });

  it('delivers a 100 KB message sent as 16 KB fragments, after small frames on the same socket', async () => {
    const c = await open();
    for (let i = 0; i < 20; i++) c.ws.send(`{"n":${i}}`);
    const message = Array.from({ length: 100_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    for (let at = 0; at < message.length; at += 16_384) c.ws.send(message.slice(at, at + 16_384), { fin: at + 16_384 >= message.length });
    const hit = await until(() => eventsFor(c.id, '$default').find((e) => e.event.body === message), '100 KB message');
    expect(hit.event.body).toHaveLength(100_000);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });

  it('closes with 1009 on a 130 KB message even when every fragment is small', async () => {
    const c = await open();
    const message = 'y'.repeat(130 * 1024);
    for (let at = 0; at < message.length; at += 16_384) c.ws.send(message.slice(at, at + 16_384), { fin: at + 16_384 >= message.length });
    expect((await c.closed).code).toBe(1009);
  });

  it('parses frame headers split across TCP segments', async () => {
    const small = await rawClient(gw.port, '/production/?token=good&tag=split-ok');
    await writeSplit(small.socket, clientFrame(Buffer.from('z'.repeat(30_000))), [1, 3, 5]);
    await until(() => events.some((e) => e.event.body === 'z'.repeat(30_000)), '30 KB frame');
    small.socket.destroy();

    const big = await rawClient(gw.port, '/production?token=good&tag=split-big');
    await writeSplit(big.socket, clientFrame(Buffer.from('q'.repeat(33_000))), [1, 2, 3, 4, 6]);
    const close = await until(() => big.received().length >= 4 && big.received(), 'close frame');
    expect(close[0]).toBe(0x88);
    expect(close.readUInt16BE(2)).toBe(1009);
    expect(events.some((e) => e.event.body === 'q'.repeat(33_000))).toBe(false);
    big.socket.destroy();
  });
});

describe('@connections management API', () => {
  it('posts, gets and deletes a connection whose id needs percent-encoding', async () => {
    // Ids are base64 and always end in '='; find one with '+' or '/' too.
    let c = await open();
    for (let i = 0; i < 30 && !/[+/]/.test(c.id); i++) {
      c.ws.close();
      c = await open();
    }
    expect(c.id).toMatch(/[+/]/);

    await sdk.send(new PostToConnectionCommand({ ConnectionId: c.id, Data: bytes('{"type":"hello"}') }));
    await until(() => c.frames.includes('{"type":"hello"}'), 'posted frame');

    const before = await sdk.send(new GetConnectionCommand({ ConnectionId: c.id }));
    expect(before.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'gateway-test/1.0' });
    expect(before.ConnectedAt).toBeInstanceOf(Date);
    await pause(20);
    c.ws.send('activity');
    await until(() => eventsFor(c.id, '$default').length > 0, 'activity');
    const after = await sdk.send(new GetConnectionCommand({ ConnectionId: c.id }));
    expect(after.LastActiveAt!.getTime()).toBeGreaterThan(before.LastActiveAt!.getTime());

    const out = await sdk.send(new DeleteConnectionCommand({ ConnectionId: c.id }));
    expect(out.$metadata.httpStatusCode).toBe(204);
    expect((await c.closed).code).toBe(1000);
    const disconnects = await disconnectsOf(c.id);
    expect(disconnects[0]!.event.requestContext.disconnectStatusCode).toBe(1000);

    const gone = gw.stats().gone;
    expect(await sdkError(sdk.send(new PostToConnectionCommand({ ConnectionId: c.id, Data: bytes('late') })))).toEqual({ name: 'GoneException', status: 410 });
    expect(await sdkError(sdk.send(new GetConnectionCommand({ ConnectionId: c.id })))).toEqual({ name: 'GoneException', status: 410 });
    expect(gw.stats().gone).toBe(gone + 2);
  });

  it('answers 410 GoneException with {"message":null} for an unknown id', async () => {
    expect(await sdkError(sdk.send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: bytes('x') })))).toEqual({ name: 'GoneException', status: 410 });
    const res = await fetch(`${gw.managementEndpoint}/@connections/${encodeURIComponent('AAAAAAAAAAAAAAA=')}`, { method: 'POST', body: 'x' });
    expect([res.status, res.headers.get('x-amzn-errortype'), await res.text()]).toEqual([410, 'GoneException', '{"message":null}']);
  });

  it('answers 413 PayloadTooLargeException over 128 KiB and delivers exactly 128 KiB', async () => {
    const c = await open();
    const tooBig = new Uint8Array(128 * 1024 + 1).fill(65);
    expect(await sdkError(sdk.send(new PostToConnectionCommand({ ConnectionId: c.id, Data: tooBig })))).toEqual({ name: 'PayloadTooLargeException', status: 413 });
    await sdk.send(new PostToConnectionCommand({ ConnectionId: c.id, Data: tooBig.subarray(1) }));
    await until(() => c.frames.some((f) => f.length === 128 * 1024), '128 KiB frame');
    c.ws.close();
  });

  it('answers 403 ForbiddenException on another stage, 200 on / and 404 elsewhere', async () => {
    const wrong = management(gw.managementEndpoint.replace('/production', '/staging'));
    expect(await sdkError(wrong.send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: bytes('x') })))).toEqual({
      name: 'ForbiddenException',
      status: 403,
    });
    wrong.destroy();
    const root = await fetch(`http://127.0.0.1:${gw.port}/`);
    expect([root.status, await root.text()]).toEqual([200, 'Parley local gateway']);
    expect((await fetch(`http://127.0.0.1:${gw.port}/nothing-here`)).status).toBe(404);
  });
});

describe('$disconnect', () => {
  it('runs exactly once with the client’s close code and reason, after which @connections answers 410', async () => {
    const c = await open();
    c.ws.close(4000, 'bye');
    await c.closed;
    await until(() => eventsFor(c.id, '$disconnect').length > 0, '$disconnect');
    await gw.settled();
    const disconnects = eventsFor(c.id, '$disconnect');
    expect(disconnects).toHaveLength(1);
    expect(disconnects[0]!.event.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      connectionId: c.id,
      disconnectStatusCode: 4000,
      disconnectReason: 'bye',
      authorizer: { principalId: 'user-1', userName: 'alice' },
    });
    expect(await sdkError(sdk.send(new GetConnectionCommand({ ConnectionId: c.id })))).toMatchObject({ status: 410 });
  });

  it('runs on an abrupt drop (1006), which the client sees as an abnormal close', async () => {
    const c = await open();
    expect(gw.dropConnection(c.id)).toBe(true);
    expect((await c.closed).code).toBe(1006);
    const [d] = await disconnectsOf(c.id);
    expect(d!.event.requestContext.disconnectStatusCode).toBe(1006);
    expect(gw.dropConnection(c.id)).toBe(false);
  });
});

// ---------------------------------------------------------------- gateways with other settings

describe('idle timeout, connection cap and integration timeout, on a manual clock', () => {
  // AWS's own values (10 minutes, 2 hours, 29 seconds): the manual scheduler makes them instant and exact.
  const IDLE = 10 * 60_000;
  const CAP = 2 * 60 * 60_000;
  const INTEGRATION = 29_000;
  const clock = manualScheduler();
  let timed: LocalGateway;
  const disconnects: GatewayRouteEvent[] = [];
  const messages: GatewayRouteEvent[] = [];
  let release: () => void = () => undefined;
  beforeAll(async () => {
    timed = await startGateway({
      scheduler: clock,
      routes: {
        $default: async (e: GatewayRouteEvent) => void messages.push(e),
        $disconnect: async (e: GatewayRouteEvent) => void disconnects.push(e),
        // Runs until the test releases it: only the integration timeout can answer first.
        hang: () => new Promise<void>((resolve) => (release = resolve)),
      },
    });
  });
  afterAll(async () => {
    release();
    await timed?.close();
  });

  it('closes an idle connection with 1001 Going away after exactly 10 minutes, and pings do not count as activity', async () => {
    const [quiet, pinging] = [await connect(timed.url), await connect(timed.url)];
    clock.advance(IDLE / 2);
    expect(await roundTrip(pinging.ws, pinging.closed)).toBe(true);
    clock.advance(IDLE / 2 - 1);
    // A ping each is the barrier: both sockets are still open one millisecond before the timeout.
    expect(await roundTrip(quiet.ws, quiet.closed)).toBe(true);
    expect(await roundTrip(pinging.ws, pinging.closed)).toBe(true);
    clock.advance(1);
    const [a, b] = await Promise.all([quiet.closed, pinging.closed]);
    expect(a).toEqual({ code: 1001, reason: 'Going away' });
    expect(b.code).toBe(1001);
    await until(() => disconnects.length >= 2, '$disconnect');
    expect(disconnects.map((e) => [e.requestContext.disconnectStatusCode, e.requestContext.disconnectReason])).toEqual([
      [1001, 'Going away'],
      [1001, 'Going away'],
    ]);
  });

  it('keeps a chatty connection open past the idle timeout, then closes it at exactly 2 hours with 1001', async () => {
    const c = await connect(timed.url);
    const step = IDLE - 60_000;
    let elapsed = 0;
    // A message every 9 minutes resets the idle timer; each is routed before time moves on.
    while (elapsed + step < CAP) {
      clock.advance(step);
      elapsed += step;
      const before = messages.length;
      c.ws.send('still here');
      await until(() => messages.length > before, 'message routed');
    }
    clock.advance(CAP - elapsed - 1);
    expect(await roundTrip(c.ws, c.closed)).toBe(true);
    clock.advance(1);
    expect(await c.closed).toEqual({ code: 1001, reason: 'Going away' });
  });

  it('answers "Internal server error" when a route runs past the 29-second integration timeout, and not a moment before', async () => {
    const c = await connect(timed.url);
    const invoked = timed.stats().invocations.hang ?? 0;
    c.ws.send('{"action":"hang"}');
    await until(() => (timed.stats().invocations.hang ?? 0) > invoked, 'hang invoked');
    clock.advance(INTEGRATION - 1);
    expect(await roundTrip(c.ws, c.closed)).toBe(true);
    expect(c.frames).toEqual([]);
    clock.advance(1);
    const frame = await until(() => c.frames[0], 'error frame');
    expect(JSON.parse(frame)).toMatchObject({ message: 'Internal server error' });
    release();
    c.ws.close();
    await c.closed;
  });
});

describe('no $default route, throttling and latency', () => {
  let bare: LocalGateway;
  let client: ApiGatewayManagementApiClient;
  beforeAll(async () => {
    bare = await startGateway({ postLatencyMs: 150, maxConcurrentManagementCalls: 1, routes: {} });
    client = management(bare.managementEndpoint);
  });
  afterAll(async () => {
    await bare?.close();
    client?.destroy();
  });

  it('answers an unroutable message with API Gateway’s Forbidden frame', async () => {
    const c = await connect(bare.url);
    c.ws.send('{"action":"anything"}');
    const frame = await until(() => c.frames[0], 'Forbidden frame');
    expect(frame).toMatch(/^\{"message": "Forbidden", "connectionId":"[A-Za-z0-9+/]{15}=", "requestId":"[A-Za-z0-9+/]{15}="\}$/);
    c.ws.close();
  });

  it('delays every @connections call and answers 429 LimitExceededException beyond the concurrency limit', async () => {
    const c = await connect(bare.url);
    c.ws.send('who am i');
    const id = (JSON.parse(await until(() => c.frames[0], 'Forbidden frame')) as { connectionId: string }).connectionId;
    const started = Date.now();
    const [first, second] = await Promise.allSettled([
      client.send(new PostToConnectionCommand({ ConnectionId: id, Data: bytes('one') })),
      pause(30).then(() => client.send(new PostToConnectionCommand({ ConnectionId: id, Data: bytes('two') }))),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(second.status).toBe('rejected');
    expect(await sdkError(second.status === 'rejected' ? Promise.reject(second.reason) : Promise.resolve())).toEqual({ name: 'LimitExceededException', status: 429 });
    expect(bare.stats()).toMatchObject({ posts: 1, throttled: 1 });
    await until(() => c.frames.includes('one'), 'first post');
    expect(c.frames).not.toContain('two');
    c.ws.close();
  });
});

describe('close()', () => {
  it('runs $disconnect for every open socket, then leaves nothing listening and no timers pending', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    // Real timers, counted: the gateway's own timers are then known exactly, without waiting for them.
    const delays: number[] = [];
    let live = 0;
    const counting: GatewayScheduler = {
      schedule(ms, fn) {
        delays.push(ms);
        live++;
        let done = false;
        const finish = () => void (done || ((done = true), live--));
        const t = setTimeout(() => (finish(), fn()), ms);
        return () => (clearTimeout(t), finish());
      },
    };
    const finished: string[] = [];
    const g = await startGateway({
      postLatencyMs: 5_000,
      scheduler: counting,
      routes: {
        $default: async () => undefined,
        $disconnect: async (e: GatewayRouteEvent) => {
          await pause(50);
          finished.push(e.requestContext.connectionId);
        },
      },
    });
    const clients = [await connect(g.url), await connect(g.url)];
    // A management call held up by the injected latency must not keep close() or its timer alive.
    const pending = fetch(`${g.managementEndpoint}/@connections/x`, { method: 'POST', body: 'x' }).catch(() => 'aborted');
    await until(() => delays.includes(5_000), 'the management call held by the injected latency');
    await g.close();
    expect(live).toBe(0);
    expect(finished).toHaveLength(2);
    expect((await Promise.all(clients.map((c) => c.closed))).map((c) => c.code)).toEqual([1001, 1001]);
    expect(await pending).toBe('aborted');
    expect(g.connectionCount()).toBe(0);
    await expect(fetch(`http://127.0.0.1:${g.port}/`)).rejects.toThrow();
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
  });
});
