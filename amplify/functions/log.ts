/**
 * Handler-level logging: one Powertools Logger per function, built at module
 * scope, and a per-invocation Log that stamps every line with the event's
 * ids. Core modules get that Log through deps (core/log.ts) and never import
 * Powertools.
 */
import { Logger, LogLevelThreshold, type LogItem } from '@aws-lambda-powertools/logger';
import type { Log, LogFields } from '../core/log';
import type { FunctionName } from '../realtime/permissions';
import { serviceName } from './log-env';

/** Lambda sets this; local mode, the tests and the bench run the handlers in a plain Node process. */
const IN_LAMBDA = Boolean(process.env.AWS_LAMBDA_FUNCTION_NAME);

/**
 * In Lambda, Powertools writes each JSON line straight to stdout/stderr, which
 * CloudWatch keeps as is. Elsewhere the same line goes through console.*,
 * where the test suites and the bench already watch for handler failures.
 */
class HandlerLogger extends Logger {
  protected override printLog(logLevel: number, log: LogItem): void {
    if (IN_LAMBDA) return super.printLog(logLevel, log);
    log.prepareForPrint();
    const line = JSON.stringify(log.getAttributes(), this.getJsonReplacer());
    if (logLevel >= LogLevelThreshold.ERROR) console.error(line);
    else if (logLevel >= LogLevelThreshold.WARN) console.warn(line);
    else if (logLevel >= LogLevelThreshold.INFO) console.info(line);
    else console.debug(line);
  }
}

/** The ids that tie a line to one API Gateway request and one socket. */
export interface RequestIds {
  requestId?: string;
  connectionId?: string;
  routeKey?: string;
  eventType?: string;
}

export interface FunctionLog {
  /** The function's Powertools Logger, for what Log does not cover. */
  readonly logger: Logger;
  /**
   * A Log for one invocation. Its keys live in the returned object, not on
   * the shared logger (no appendKeys), so none can outlive the invocation on
   * a warm container or cross into a concurrent one (local mode runs many).
   */
  invocation(requestContext: RequestIds | undefined, context?: { awsRequestId?: string }): Log;
}

export function functionLog(fn: FunctionName): FunctionLog {
  const env = process.env;
  const logger = new HandlerLogger({
    serviceName: env.POWERTOOLS_SERVICE_NAME || serviceName(fn),
    // Unset outside Lambda: warnings and errors only, so a local run or a test shows failures, not every socket.
    ...(!IN_LAMBDA && !env.POWERTOOLS_LOG_LEVEL && !env.AWS_LAMBDA_LOG_LEVEL ? { logLevel: 'WARN' as const } : {}),
  });
  return {
    logger,
    invocation(requestContext, context) {
      const keys: LogFields = {
        requestId: requestContext?.requestId,
        connectionId: requestContext?.connectionId,
        routeKey: requestContext?.routeKey,
        eventType: requestContext?.eventType,
        awsRequestId: context?.awsRequestId,
      };
      return bind(logger, keys);
    },
  };
}

/** The invocation's keys come last, so a field can never overwrite them. */
function bind(logger: Logger, keys: LogFields): Log {
  const line = (fields: LogFields | undefined, error?: unknown) => ({ ...fields, ...(error === undefined ? {} : { error }), ...keys });
  return {
    debug: (message, fields) => logger.debug(message, line(fields)),
    info: (message, fields) => logger.info(message, line(fields)),
    warn: (message, fields, error) => logger.warn(message, line(fields, error)),
    error: (message, fields, error) => logger.error(message, line(fields, error)),
  };
}
