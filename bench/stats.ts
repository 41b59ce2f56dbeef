/** Nearest-rank percentile of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export const median = (samples: readonly number[]) => percentile(samples, 50);

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
    max: samples.length ? samples.reduce((m, x) => Math.max(m, x), -Infinity) : Number.NaN,
  };
}

/** A finite number or null, for JSON and the table. */
export const finite = (x: number | undefined): number | null => (x !== undefined && Number.isFinite(x) ? x : null);

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
