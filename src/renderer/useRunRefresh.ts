import { useEffect, useRef } from 'react';
import { api } from './api';
import { concernsRuns } from './selection';

/**
 * Calls `refresh` whenever the event stream reports progress or a change for one of `runIds`, at
 * most once per `minGapMs` (a burst of events ends in one trailing call). Pages that show a run's
 * curves or samples refetch on the run's own events instead of polling on a timer of their own.
 */
export function useRunRefresh(runIds: readonly number[], refresh: () => void, enabled = true, minGapMs = 1500): void {
  const latest = useRef(refresh);
  useEffect(() => {
    latest.current = refresh;
  });
  const key = runIds.join(',');
  useEffect(() => {
    if (!enabled || key === '') return undefined;
    const ids = new Set(key.split(',').map(Number));
    let last = 0;
    let trailing: ReturnType<typeof setTimeout> | undefined;
    const fire = () => {
      trailing = undefined;
      last = Date.now();
      latest.current();
    };
    const off = api.onEvent((event) => {
      if (!concernsRuns(event, ids) || trailing) return;
      const wait = last + minGapMs - Date.now();
      if (wait <= 0) fire();
      else trailing = setTimeout(fire, wait);
    });
    return () => {
      off();
      if (trailing) clearTimeout(trailing);
    };
  }, [key, enabled, minGapMs]);
}
