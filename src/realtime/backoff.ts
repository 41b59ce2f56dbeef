import type { ErrorCode } from '../../amplify/core/protocol';

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

/**
 * Server refusals that mean "later", not "never": the client waits and asks
 * again, up to MAX_RETRIES times. (Not the server's own list of retryable
 * AWS errors in core/errors.ts: these are protocol error codes.)
 */
export const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['rate_limited', 'unavailable', 'internal', 'home_unavailable']);
export const MAX_RETRIES = 5;

/**
 * The room's home region is down (issue 10): its sends wait, however long
 * the outage, rather than fail after MAX_RETRIES, since nothing the user
 * can do would help and reading still works.
 */
export const WAITS_FOR_HOME: ReadonlySet<ErrorCode> = new Set(['home_unavailable']);

/**
 * How long a send refused with home_unavailable waits before its `attempt`th
 * try (from 1): never less than the server's retryAfterMs, doubling from it
 * (jittered) to the usual cap, so a long outage is not knocked on every 2 s.
 */
export function homeWaitDelay(attempt: number, hintMs = 2_000, random: () => number = Math.random): number {
  return backoffDelay(Math.max(1, attempt), { baseMs: hintMs, maxMs: Math.max(hintMs, DEFAULT_BACKOFF.maxMs) }, random);
}

/** Whether a code (the server's or one the client made) is worth asking again: a join or sync refused with it keeps its room. */
export const isRetryable = (code: string): boolean => RETRYABLE.has(code as ErrorCode);
