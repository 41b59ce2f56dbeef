import { useMemo, useSyncExternalStore } from 'react';
import type { ChatState, ChatStore } from './store';

/**
 * A slice of the chat state. The component re-renders only when its slice
 * changes (by `equal`), not on every event the store sees: a typing ping in
 * another room leaves the message list alone.
 *
 * `select` and `equal` must be stable (module-level or memoized), as the
 * cached snapshot is rebuilt whenever they change.
 */
export function useChatState<T>(store: ChatStore, select: (state: ChatState) => T, equal: (a: T, b: T) => boolean = Object.is): T {
  const getSnapshot = useMemo(() => selectedSnapshot(store, select, equal), [store, select, equal]);
  return useSyncExternalStore(store.subscribe, getSnapshot);
}

/** useSyncExternalStore requires the same value for the same store state, or it renders in a loop. */
function selectedSnapshot<T>(store: ChatStore, select: (state: ChatState) => T, equal: (a: T, b: T) => boolean): () => T {
  let last: { state: ChatState; value: T } | undefined;
  return () => {
    const state = store.getSnapshot();
    if (last?.state === state) return last.value;
    const value = select(state);
    last = { state, value: last && equal(last.value, value) ? last.value : value };
    return last.value;
  };
}

/** Equal when both arrays hold equal items in order (items compared by `item`). */
export const sameItems =
  <T>(item: (a: T, b: T) => boolean) =>
  (a: readonly T[], b: readonly T[]): boolean =>
    a.length === b.length && a.every((x, i) => item(x, b[i]!));

/** Equal when both objects have the same keys with identical values. */
export function shallowEqual<T extends object>(a: T, b: T): boolean {
  const ka = Object.keys(a) as (keyof T)[];
  return ka.length === Object.keys(b).length && ka.every((k) => Object.is(a[k], b[k]));
}
