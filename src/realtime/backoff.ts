export interface BackoffOptions {
  /** Delay before the first retry. */
  baseMs: number;
  /** Ceiling for any single delay. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half is
 * random, so a crowd of clients dropped together does not return together,
 * yet nobody retries absurdly early.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(exp / 2 + (exp / 2) * random());
}
