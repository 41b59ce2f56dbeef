/**
 * Local mode's stand-in for IAM. Lambda runs each handler under a role that
 * may only do what amplify/realtime/permissions.ts grants; local mode runs
 * them in one process with no IAM at all, so a call the role lacks would work
 * here and fail (often silently, inside a swallowed catch) in AWS.
 *
 * This module closes that gap by recording. The stack runs every handler
 * invocation inside `asFunction(name, …)` (an AsyncLocalStorage context), and
 * an SDK middleware on every client the handlers build (amplify/core/deps.ts)
 * records each request as (function, IAM action, resource). `outsideGrants`
 * compares the record with FUNCTION_ACCESS; the realtime suites assert it is
 * empty, and test/permissions.test.ts drives every path on purpose.
 *
 * Adding a table: give it a name in the stack's `tables` (it is then mapped
 * back to its id) and its actions in FUNCTION_ACCESS. Adding a function: an
 * entry in FUNCTION_ACCESS and `asFunction('<name>', handler)` wherever local
 * mode invokes it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { onSdkClient, type SdkClient } from '../amplify/core/deps';
import { FUNCTION_ACCESS, INVOKES_OTHER_HOMES, type FunctionAccess } from '../amplify/realtime/permissions';
import { HOME_PREFIX } from '../amplify/regions/names';

/** One kind of AWS request a function made: what IAM would evaluate. */
export interface AwsCall {
  /** The function whose handler was running, or UNATTRIBUTED. */
  fn: string;
  /** The IAM action, e.g. dynamodb:GetItem or execute-api:ManageConnections. */
  action: string;
  /**
   * A table id ('connections', 'chat', …; `<id>/index/<name>` for an index),
   * `table:<physical name>` for a table the stack does not know, or, for
   * @connections, `<METHOD> @connections`.
   */
  resource: string;
}

export interface RecordedCall extends AwsCall {
  count: number;
}

/** Calls made by a handler's client outside any handler invocation: a bug in attribution, never granted. */
export const UNATTRIBUTED = '(no function)';

const running = new AsyncLocalStorage<string>();

/** Runs `handler` as function `name`: every SDK call it makes, however deep or late, is attributed to it. */
export function asFunction<A extends unknown[], R>(name: string, handler: (...args: A) => R): (...args: A) => R {
  return (...args) => running.run(name, () => handler(...args));
}

// ------------------------------------------------------------------ SDK request -> IAM

type Input = Record<string, unknown>;
interface HttpRequestLike {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
}

/** DynamoDB's TransactWriteItems needs the per-item action, not an action of its own. */
const TRANSACT_WRITE_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/** @connections commands, should a request not carry its HTTP method. */
const CONNECTIONS_COMMAND_METHODS: Record<string, string> = {
  PostToConnectionCommand: 'POST',
  GetConnectionCommand: 'GET',
  DeleteConnectionCommand: 'DELETE',
};

const isInput = (v: unknown): v is Input => typeof v === 'object' && v !== null && !Array.isArray(v);

function header(request: HttpRequestLike | undefined, name: string): string | undefined {
  const hit = Object.entries(request?.headers ?? {}).find(([k]) => k.toLowerCase() === name);
  return hit?.[1];
}

/**
 * The DynamoDB operation: the wire's X-Amz-Target (DynamoDB_20120810.GetItem)
 * when there is one, else the command name. lib-dynamodb's GetCommand sends a
 * GetItemCommand through the base client, so both name the real operation.
 */
function dynamoOperation(commandName: string | undefined, request: HttpRequestLike | undefined): string {
  const target = header(request, 'x-amz-target');
  if (target?.includes('.')) return target.slice(target.lastIndexOf('.') + 1);
  return (commandName ?? 'Unknown').replace(/Command$/, '');
}

/** Each (action, table name, index) one DynamoDB request needs. */
export function dynamoRequirements(operation: string, input: Input): { action: string; table: string; index?: string }[] {
  const tableOf = (v: unknown) => (isInput(v) && typeof v.TableName === 'string' ? v.TableName : '?');
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys(isInput(input.RequestItems) ? input.RequestItems : {}).map((table) => ({ action: `dynamodb:${operation}`, table }));
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const items = Array.isArray(input.TransactItems) ? input.TransactItems : [];
      return items.flatMap((item) =>
        Object.entries(isInput(item) ? item : {}).map(([kind, body]) => ({
          action: operation === 'TransactGetItems' ? 'dynamodb:GetItem' : (TRANSACT_WRITE_ACTIONS[kind] ?? `dynamodb:${kind}`),
          table: tableOf(body),
        })),
      );
    }
    default: {
      const index = typeof input.IndexName === 'string' ? input.IndexName : undefined;
      return [{ action: `dynamodb:${operation}`, table: tableOf(input), ...(index ? { index } : {}) }];
    }
  }
}

// ------------------------------------------------------------------ the recorder

export interface AwsCallRecorder {
  /** Every distinct call so far, with how often it was made. */
  calls(): RecordedCall[];
  /** The distinct calls the grants do not allow; empty when the code matches permissions.ts. */
  violations(): AwsCall[];
  /** Throws, listing each (function, action, resource) outside the grants. */
  assertWithinGrants(): void;
  reset(): void;
}

export interface RecorderOptions {
  /** Table id -> physical name, as the stack created them. */
  tables: Record<string, string>;
  access?: Record<string, FunctionAccess>;
  /** Told once about each distinct call outside the grants, as it happens. */
  onViolation?: (call: AwsCall) => void;
}

type Sink = (call: AwsCall) => void;
let sink: Sink | undefined;
const instrumented = new WeakSet<object>();

/** The recorder's middleware, on every client amplify/core/deps.ts builds, now and later. */
function instrument(client: SdkClient): void {
  if (instrumented.has(client)) return;
  instrumented.add(client);
  const dynamo = client instanceof DynamoDBClient;
  const lambda = client instanceof LambdaClient;
  const record = (commandName: string | undefined, input: Input, request: HttpRequestLike | undefined): AwsCall[] => {
    const fn = running.getStore() ?? UNATTRIBUTED;
    if (dynamo) {
      return dynamoRequirements(dynamoOperation(commandName, request), input).map((r) => ({
        fn,
        action: r.action,
        resource: r.index ? `${tableIdOf(r.table)}/index/${r.index}` : tableIdOf(r.table),
      }));
    }
    if (lambda) return [{ fn, action: 'lambda:InvokeFunction', resource: `function:${String(input.FunctionName ?? '?')}` }];
    const method = request?.method ?? CONNECTIONS_COMMAND_METHODS[commandName ?? ''] ?? '?';
    const onConnections = request?.path === undefined || request.path.includes('/@connections/');
    return [{ fn, action: 'execute-api:ManageConnections', resource: onConnections ? `${method} @connections` : `${method} ${request.path}` }];
  };
  // The build step sees the serialized request (method, path, X-Amz-Target) once per send,
  // before retries: one IAM evaluation per attempt, all for the same action.
  (client.middlewareStack as unknown as MiddlewareStackLike).add(
    (next, context) => async (args) => {
      if (sink) for (const call of record(context.commandName, isInput(args.input) ? args.input : {}, args.request)) sink(call);
      return next(args);
    },
    { step: 'build', name: 'parleyIamRecorder', priority: 'high' },
  );
}

type MiddlewareStackLike = {
  add(
    mw: (
      next: (args: { input: unknown; request?: HttpRequestLike }) => Promise<unknown>,
      context: { commandName?: string },
    ) => (args: { input: unknown; request?: HttpRequestLike }) => Promise<unknown>,
    options: { step: 'build'; name: string; priority: 'high' },
  ): void;
};

let tableIds = new Map<string, string>();
function tableIdOf(name: string): string {
  // The SDK also accepts a table ARN: arn:aws:dynamodb:<region>:<account>:table/<name>.
  const bare = name.startsWith('arn:') ? name.slice(name.indexOf(':table/') + ':table/'.length) : name;
  return tableIds.get(bare) ?? `table:${bare}`;
}

let hooked = false;

/**
 * Starts recording every AWS call the handlers make. One process hosts one
 * stack (handlers read their config at import), so a new recorder replaces the last.
 */
export function recordAwsCalls(opts: RecorderOptions): AwsCallRecorder {
  const access = opts.access ?? FUNCTION_ACCESS;
  const seen = new Map<string, RecordedCall>();
  tableIds = new Map(Object.entries(opts.tables).map(([id, name]) => [name, id]));
  sink = (call) => {
    const key = callKey(call);
    const hit = seen.get(key);
    if (hit) {
      hit.count++;
      return;
    }
    seen.set(key, { ...call, count: 1 });
    if (opts.onViolation && !isGranted(call, access)) opts.onViolation(call);
  };
  if (!hooked) {
    hooked = true;
    onSdkClient(instrument);
  }
  const calls = () => [...seen.values()].map((c) => ({ ...c }));
  return {
    calls,
    violations: () => outsideGrants(calls(), access),
    assertWithinGrants: () => assertWithinGrants(calls(), access),
    reset: () => seen.clear(),
  };
}

// ------------------------------------------------------------------ the check


const callKey = (c: AwsCall) => `${c.fn}\u0000${c.action}\u0000${c.resource}`;

/** Whether FUNCTION_ACCESS (or `access`) lets `call.fn` make this call, as the construct turns it into IAM. */
export function isGranted(call: AwsCall, access: Record<string, FunctionAccess> = FUNCTION_ACCESS): boolean {
  const grants = Object.hasOwn(access, call.fn) ? access[call.fn] : undefined;
  if (!grants) return false;
  if (call.action === 'execute-api:ManageConnections') {
    const m = /^([A-Z]+) @connections$/.exec(call.resource);
    return m !== null && (grants.manageConnections as readonly string[]).includes(m[1]!);
  }
  // Only a region's chat function reaches other regions, and only their home functions.
  if (call.action === 'lambda:InvokeFunction') return (INVOKES_OTHER_HOMES as readonly string[]).includes(call.fn) && call.resource.startsWith(`function:${HOME_PREFIX}`);
  if (!call.action.startsWith('dynamodb:')) return false;
  // The construct grants a table's indexes (<arn>/index/*) with the same actions,
  // whenever it grants Query or Scan on a table that has indexes.
  const [table, index] = call.resource.split('/index/') as [string, string | undefined];
  const actions = (grants.tables as Record<string, readonly string[] | undefined>)[table] ?? [];
  if (index !== undefined && !actions.some((a) => a === 'dynamodb:Query' || a === 'dynamodb:Scan')) return false;
  return actions.includes(call.action);
}

/** The distinct calls outside the grants, sorted by function, action, resource. */
export function outsideGrants(calls: readonly AwsCall[], access: Record<string, FunctionAccess> = FUNCTION_ACCESS): AwsCall[] {
  const out = new Map<string, AwsCall>();
  for (const c of calls) if (!isGranted(c, access)) out.set(callKey(c), { fn: c.fn, action: c.action, resource: c.resource });
  return [...out.values()].sort((a, b) => callKey(a).localeCompare(callKey(b)));
}

/** Every (function, action, resource) the grants allow that no recorded call used: candidates for removal. */
export function unusedGrants(calls: readonly AwsCall[], access: Record<string, FunctionAccess> = FUNCTION_ACCESS): AwsCall[] {
  const used = new Set(calls.map((c) => callKey({ ...c, resource: c.resource.split('/index/')[0]! })));
  const out: AwsCall[] = [];
  for (const [fn, grants] of Object.entries(access)) {
    for (const [table, actions] of Object.entries(grants.tables as Record<string, readonly string[] | undefined>)) {
      for (const action of actions ?? []) if (!used.has(callKey({ fn, action, resource: table }))) out.push({ fn, action, resource: table });
    }
    for (const method of grants.manageConnections) {
      const call = { fn, action: 'execute-api:ManageConnections', resource: `${method} @connections` };
      if (!used.has(callKey(call))) out.push(call);
    }
  }
  return out;
}

/** One aligned line per call: `connect  dynamodb:GetItem  connections`. */
export function describeCalls(calls: readonly AwsCall[]): string {
  const w = (k: keyof AwsCall) => Math.max(0, ...calls.map((c) => c[k].length));
  const [fw, aw] = [w('fn'), w('action')];
  return calls.map((c) => `  ${c.fn.padEnd(fw)}  ${c.action.padEnd(aw)}  ${c.resource}`).join('\n');
}

export function assertWithinGrants(calls: readonly AwsCall[], access: Record<string, FunctionAccess> = FUNCTION_ACCESS): void {
  const outside = outsideGrants(calls, access);
  if (outside.length === 0) return;
  throw new Error(
    `${outside.length} AWS call(s) outside the grants of amplify/realtime/permissions.ts; in AWS each would fail with AccessDenied:\n` +
      `${describeCalls(outside)}\n` +
      'Grant them in FUNCTION_ACCESS (the construct turns it into IAM), or stop making them.',
  );
}
