import { ProtocolError } from './protocol';

/** Errors that mean "try again shortly" rather than "you sent something wrong". */
const TRANSIENT = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TimeoutError',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/** Maps anything a handler caught to a ProtocolError a client can act on. */
export function asProtocolError(err: unknown, details: ProtocolError['details'] = {}): ProtocolError {
  if (err instanceof ProtocolError) return new ProtocolError(err.code, err.message, { ...details, ...err.details });
  const e = err as { name?: string; code?: string; cause?: { code?: string } } | undefined;
  if (e && (TRANSIENT.has(e.name ?? '') || NETWORK.has(e.code ?? '') || NETWORK.has(e.cause?.code ?? ''))) {
    return new ProtocolError('unavailable', 'Parley is briefly unavailable; please retry', { ...details, retryAfterMs: 1000 });
  }
  return new ProtocolError('internal', 'Something went wrong on our side', details);
}
