import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1, found by letting the kernel pick one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A port a local service must have, with what to tell the user when it is taken. */
export interface FixedPort {
  port: number;
  /** Who needs it, e.g. 'cognito-local'. */
  name: string;
  /** How to choose another, e.g. 'set PARLEY_COGNITO_PORT to another port'. */
  remedy?: string;
}

/** Some fixed ports are held by another process; the message names each and how to find its holder. */
export class PortsInUse extends Error {
  constructor(readonly held: FixedPort[]) {
    super(
      held
        .map(
          ({ port, name, remedy }) =>
            `Port ${port} (${name}) is already in use on 127.0.0.1.\n` +
            `  Find what holds it:  lsof -i :${port}   (or: ss -ltnp 'sport = :${port}')\n` +
            `  Stop that process (often one left over from an earlier run)${remedy ? `, or ${remedy}` : ''}.`,
        )
        .join('\n'),
    );
    this.name = 'PortsInUse';
  }
}

/** Whether `port` on `host` can be listened on now: tried, then released at once. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Refuses before anything starts when a fixed port is taken. Otherwise a
 * stray process answers in place of the service (a leftover cognito-local
 * passes the readiness probe, then fails every sign-in with
 * UnexpectedLambdaException, its triggers pointing at a server long gone).
 */
export async function assertPortsFree(ports: FixedPort[]): Promise<void> {
  const held: FixedPort[] = [];
  for (const p of ports) if (!(await portIsFree(p.port))) held.push(p);
  if (held.length > 0) throw new PortsInUse(held);
}

export interface Child {
  process: ChildProcess;
  /** Last lines of output, for error messages when a child dies. */
  tail(): string;
  stop(): Promise<void>;
}

/** Starts a child that dies with us and keeps its recent output for diagnostics. */
export function startChild(
  command: string,
  args: string[],
  options: SpawnOptions & {
    name: string;
    echo?: boolean;
    /** A message channel to the child (process.send in it), as fork gives. */
    ipc?: boolean;
    /** Each line of output, as it comes. */
    onLine?: (line: string) => void;
    /** How long stop() waits after SIGTERM before SIGKILL. */
    stopTimeoutMs?: number;
  },
): Child {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])] });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > 40) lines.shift();
      if (options.echo) console.log(`[${options.name}] ${line}`);
      options.onLine?.(line);
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    tail: () => lines.join('\n'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), options.stopTimeoutMs ?? 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it resolves true, the child exits, or time runs out. */
export async function waitUntil(name: string, child: Child, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`${name} exited with code ${child.process.exitCode}:\n${child.tail()}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  await child.stop();
  throw new Error(`${name} did not start within ${timeoutMs} ms:\n${child.tail()}`);
}
