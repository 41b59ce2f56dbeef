import { ProtocolError, type ErrorCode } from './protocol';

/** AWS service error names that mean "try again shortly" rather than "you sent something wrong". */
const RETRYABLE_SERVICE_ERRORS: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TimeoutError',
]);
/** Node socket error codes with the same meaning: the request may never have reached the service. */
const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/**
 * The connection disappeared while an action for it ran (its $disconnect won
 * the race). Nobody is left to answer, so handlers end quietly.
 */
export class ConnectionGone extends Error {
  constructor(readonly connectionId: string) {
    super(`Connection ${connectionId} is gone`);
    this.name = 'ConnectionGone';
  }
}

/** Codes after which the server closes the socket, so the client reconnects with a fresh token and state. */
export const CLOSING_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['token_expired', 'session_lost']);

/** Maps anything a handler caught to a ProtocolError a client can act on. */
export function asProtocolError(err: unknown, details: ProtocolError['details'] = {}): ProtocolError {
  if (err instanceof ProtocolError) return new ProtocolError(err.code, err.message, { ...details, ...err.details });
  const e = err as { name?: string; code?: string; cause?: { code?: string } } | undefined;
  if (e && (RETRYABLE_SERVICE_ERRORS.has(e.name ?? '') || RETRYABLE_NETWORK_CODES.has(e.code ?? '') || RETRYABLE_NETWORK_CODES.has(e.cause?.code ?? ''))) {
    return new ProtocolError('unavailable', 'Parley is briefly unavailable; please retry', { ...details, retryAfterMs: 1000 });
  }
  return new ProtocolError('internal', 'Something went wrong on our side', details);
}
