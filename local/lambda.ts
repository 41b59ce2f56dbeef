/**
 * Local mode's stand-in for the Lambda Invoke API (POST
 * /2015-03-31/functions/<name>/invocations), so callers use the real SDK
 * client: cognito-local invokes its triggers here, and another region's chat
 * function invokes a room's home function here (local/regions).
 *
 * A function that throws answers as Lambda does, 200 with
 * X-Amz-Function-Error: cognito-local then refuses the operation with
 * UserLambdaValidationException, and the SDK's caller sees FunctionError.
 */
import { createServer, type Server } from 'node:http';

export type LambdaFunction = (event: Record<string, unknown>) => Promise<unknown>;

export interface LambdaService {
  server: Server;
  port: number;
  endpoint: string;
  close(): Promise<void>;
}

export function startLambdaService(functions: Record<string, LambdaFunction>, port = 0): Promise<LambdaService> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const name = decodeURIComponent(/\/functions\/([^/]+)\/invocations/.exec(req.url ?? '')?.[1] ?? '');
      const fn = Object.hasOwn(functions, name) ? functions[name] : undefined;
      const answer = (status: number, payload: unknown, error?: string) =>
        res.writeHead(status, { 'content-type': 'application/json', ...(error ? { 'x-amz-function-error': error } : {}) }).end(JSON.stringify(payload ?? null));
      if (!fn) return answer(404, { message: `Function not found: ${name}` }, undefined);
      let event: Record<string, unknown> = {};
      try {
        event = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // An unparsable event reaches the function empty; it refuses or answers as it would in Lambda.
      }
      fn(event).then(
        (out) => answer(200, out),
        (err: unknown) =>
          answer(200, { errorType: err instanceof Error ? err.name : 'Error', errorMessage: err instanceof Error ? err.message : String(err) }, 'Unhandled'),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      resolve({
        server,
        port: bound,
        endpoint: `http://127.0.0.1:${bound}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
