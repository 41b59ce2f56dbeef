/**
 * The logging seam of the domain modules. Handlers pass a Log bound to the
 * invocation (amplify/functions/log.ts, Powertools Logger), so core imports
 * no logging library and a test can pass a recorder, or nothing.
 */

/** Structured fields of one line. `message`, `level`, `service` and `timestamp` are the logger's own. */
export type LogFields = Readonly<Record<string, unknown>>;

export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  /** `error` is logged with its name, message, stack and cause chain. */
  warn(message: string, fields?: LogFields, error?: unknown): void;
  error(message: string, fields?: LogFields, error?: unknown): void;
}

/**
 * For deps built without a log (domain tests, scripts): warnings and errors
 * still reach the console as one JSON line each; debug and info are dropped.
 */
export const consoleLog: Log = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, fields, error) => console.warn(line('WARN', message, fields, error)),
  error: (message, fields, error) => console.error(line('ERROR', message, fields, error)),
};

function line(level: string, message: string, fields: LogFields = {}, error?: unknown): string {
  return JSON.stringify({ level, message, ...fields, ...(error === undefined ? {} : { error: describeError(error) }) });
}

/** An error as plain data, cause chain included (JSON.stringify drops an Error's own fields). */
export function describeError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return typeof error === 'object' ? error : String(error);
  const { name, message, stack } = error;
  const cause: unknown = error.cause;
  return { name, message, stack, ...(cause !== undefined && depth < 8 ? { cause: describeError(cause, depth + 1) } : {}) };
}
