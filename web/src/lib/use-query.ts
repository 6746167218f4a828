/**
 * `useQuery`: load something when the component mounts (and when `deps` change), keep the
 * last good answer while reloading, `refresh()` on demand, optionally every `refreshMs`.
 * A reload never blanks what is on screen; an error is kept beside the last data.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

export interface QueryState<T> {
  data: T | undefined;
  /** The last load's failure (cleared by the next success). */
  error: unknown;
  /** True until the first load settles, and during refreshes. */
  loading: boolean;
  /** When data last arrived (epoch ms), null before. */
  updatedAt: number | null;
  refresh: () => void;
}

export interface QueryOptions {
  /** Reload every this many ms (paused while the tab is hidden). */
  refreshMs?: number;
  /** False: do not load (e.g. a missing id). Default true. */
  enabled?: boolean;
}

export function useQuery<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
  options: QueryOptions = {},
): QueryState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(options.enabled !== false);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const enabled = options.enabled !== false;

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    setLoading(true);
    loadRef.current(controller.signal).then(
      (value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
        setUpdatedAt(Date.now());
        setLoading(false);
      },
      (failure: unknown) => {
        if (controller.signal.aborted) return;
        setError(failure);
        setLoading(false);
      },
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- deps are the caller's
  }, [enabled, tick, ...deps]);

  const refreshMs = options.refreshMs;
  useEffect(() => {
    if (refreshMs === undefined || !enabled) return;
    const timer = setInterval(() => {
      if (document.visibilityState !== 'hidden') setTick((value) => value + 1);
    }, refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs, enabled]);

  const refresh = useCallback(() => setTick((value) => value + 1), []);
  return { data, error, loading, updatedAt, refresh };
}
