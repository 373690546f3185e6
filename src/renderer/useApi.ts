import { useCallback, useEffect, useState } from 'react';
import type { ApiEvent } from '../api/contract';
import { api } from './api';
import { messageOf } from '../api/errors';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

/**
 * Loads data through the API and reloads it when a matching live event arrives, so every page
 * stays current without polling.
 */
export function useApi<T>(load: () => Promise<T>, deps: unknown[], reloadOn?: (event: ApiEvent) => boolean): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    let cancelled = false;
    load().then(
      (value) => {
        if (cancelled) return;
        setData(value);
        setError(null);
      },
      (err: unknown) => {
        if (cancelled) return;
        setError(messageOf(err));
      },
    );
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- callers list what `load` depends on
  }, [...deps, tick]);

  useEffect(() => {
    if (!reloadOn) return undefined;
    return api.onEvent((event) => {
      if (reloadOn(event)) reload();
    });
  }, [reloadOn, reload]);

  return { data, error, reload };
}

/** Runs a user action against the API, keeping the reason it failed (if it did) for display. */
export function useAction(): { error: string | null; busy: boolean; run: (call: () => Promise<unknown>) => void } {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = useCallback((call: () => Promise<unknown>) => {
    setError(null);
    setBusy(true);
    call()
      .catch((err: unknown) => setError(messageOf(err)))
      .finally(() => setBusy(false));
  }, []);
  return { error, busy, run };
}
