/**
 * Byte budgets for replies. API Gateway refuses a PostToConnection over 128 KB
 * (413 PayloadTooLargeException), and a reply that cannot be posted is a reply
 * the client never gets; so every reply that carries a list is cut to fit.
 */
import { LIMITS } from './protocol';

const encoder = new TextEncoder();

/** Bytes of `value` as the fan-out sends it: UTF-8 of JSON.stringify. */
export const jsonBytes = (value: unknown): number => encoder.encode(JSON.stringify(value)).length;

export interface Fitted<T> {
  kept: T[];
  /** True when items were left out to stay within the budget. */
  cut: boolean;
}

/**
 * Keeps `items`, in the order given, while their encoded sizes (plus one byte
 * of comma each) stay within `budget`; stops at the first item that would pass
 * it, so what is kept is always a prefix. The first item is always kept, so a
 * page is never empty while items exist: the budget must leave room for the
 * largest single item (LIMITS.replyBudgetBytes does, for every list Parley
 * sends).
 */
export function fitBudget<T>(items: readonly T[], size: (item: T) => number, budget: number = LIMITS.replyBudgetBytes): Fitted<T> {
  let used = 0;
  let n = 0;
  for (const item of items) {
    used += size(item) + (n > 0 ? 1 : 0);
    if (n > 0 && used > budget) break;
    n++;
  }
  return { kept: items.slice(0, n), cut: n < items.length };
}
