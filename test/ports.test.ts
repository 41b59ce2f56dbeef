/**
 * `npm start` needs fixed ports (gateway 3001, cognito-local 9229, the app
 * 5173). A stray process on one of them used to surface much later as
 * UnexpectedLambdaException; now the start refuses first, naming the port.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPortsFree, freePort, portIsFree, PortsInUse } from '../local/process';

const holders: Server[] = [];
/** Holds a port as a stray process would: listening, on 127.0.0.1 or on every address. */
async function hold(host: string): Promise<number> {
  const srv = createServer();
  holders.push(srv);
  srv.listen(0, host);
  await once(srv, 'listening');
  return (srv.address() as { port: number }).port;
}
afterEach(async () => {
  await Promise.all(holders.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('the fixed-port check', () => {
  it('refuses a port held on 127.0.0.1, naming it, its user, how to find the holder and how to move', async () => {
    const port = await hold('127.0.0.1');
    const err: unknown = await assertPortsFree([{ port, name: 'cognito-local', remedy: 'set PARLEY_COGNITO_PORT to another port' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortsInUse);
    const { message, held } = err as PortsInUse;
    expect(held.map((p) => p.port)).toEqual([port]);
    expect(message).toContain(`Port ${port} (cognito-local) is already in use`);
    expect(message).toContain(`lsof -i :${port}`);
    expect(message).toContain('PARLEY_COGNITO_PORT');
  });

  it('counts a holder listening on every address, and lists only the held ports', async () => {
    const [held, free] = [await hold('0.0.0.0'), await freePort()];
    const err: unknown = await assertPortsFree([
      { port: free, name: 'the local API Gateway' },
      { port: held, name: 'cognito-local' },
    ]).catch((e: unknown) => e);
    expect((err as PortsInUse).held.map((p) => p.port)).toEqual([held]);
  });

  it('passes free ports and leaves them free', async () => {
    const port = await freePort();
    await expect(assertPortsFree([{ port, name: 'the local API Gateway' }])).resolves.toBeUndefined();
    expect(await portIsFree(port)).toBe(true);
  });
});

describe('npm start', () => {
  it('exits 1 with the message before starting anything when cognito-local’s port is held', async () => {
    const [cognitoPort, gatewayPort] = [await hold('127.0.0.1'), await freePort()];
    const tsx = resolve('node_modules/.bin/tsx');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      execFile(
        tsx,
        ['local/start.ts', '--no-app'],
        { env: { ...process.env, PARLEY_COGNITO_PORT: String(cognitoPort), PARLEY_GATEWAY_PORT: String(gatewayPort) }, timeout: 20_000 },
        (error, stdout, stderr) => done({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`Port ${cognitoPort} (cognito-local) is already in use`);
    expect(out.stderr).toContain(`lsof -i :${cognitoPort}`);
    expect(out.stdout).not.toContain('stack is up');
  });
});
