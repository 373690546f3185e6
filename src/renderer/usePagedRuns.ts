import { useCallback, useEffect, useRef, useState } from 'react';
import type { RunFilter, RunSummary } from '../api/contract';
import { messageOf } from '../api/errors';
import { api } from './api';

/** Runs fetched per call: a few screens of the History table. */
export const RUN_PAGE_SIZE = 200;

/** The pages that hold rows `first`..`last`. */
function pagesOf([first, last]: [number, number]): number[] {
  const out: number[] = [];
  for (let p = Math.floor(first / RUN_PAGE_SIZE); p <= Math.floor(last / RUN_PAGE_SIZE); p++) out.push(p);
  return out;
}

export interface PagedRuns {
  /** How many runs the filter selects in all; null until the first page arrives. */
  total: number | null;
  error: string | null;
  /** The run at a row, if its page has arrived. */
  at: (index: number) => RunSummary | undefined;
  /** Every run fetched so far, in order. */
  loaded: () => RunSummary[];
  /** Asks for the pages that hold rows `first`..`last` (the rows on screen). */
  show: (first: number, last: number) => void;
}

/**
 * The runs a filter selects, fetched one page at a time as the table scrolls to them, so a store of
 * a million runs costs the page what a screenful does. A `runs-changed` event refetches the pages
 * on screen and forgets the others, which are fetched again when scrolled back to.
 */
export function usePagedRuns(filter: RunFilter): PagedRuns {
  const key = JSON.stringify(filter);
  const [pages, setPages] = useState(new Map<number, RunSummary[]>());
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const inFlight = useRef(new Set<number>());
  const onScreen = useRef<[number, number]>([0, 0]);
  // Bumped on every filter change and every refetch, so an answer to an older request is dropped.
  const generation = useRef(0);
  const filterRef = useRef<RunFilter>({});

  const fetchPage = useCallback((page: number, gen: number) => {
    inFlight.current.add(page);
    api.listRuns({ ...filterRef.current, limit: RUN_PAGE_SIZE, offset: page * RUN_PAGE_SIZE }).then(
      (result) => {
        if (gen !== generation.current) return;
        inFlight.current.delete(page);
        setTotal(result.total);
        setError(null);
        setPages((old) => new Map(old).set(page, result.runs));
      },
      (err: unknown) => {
        if (gen !== generation.current) return;
        inFlight.current.delete(page);
        setError(messageOf(err));
      },
    );
  }, []);

  /** Drops every fetched page but keeps what is on screen shown until its fresh copy arrives. */
  const refetch = useCallback((resetView: boolean) => {
    const gen = ++generation.current;
    inFlight.current.clear();
    const keep = resetView ? [0] : pagesOf(onScreen.current);
    setPages((old) => (resetView ? new Map() : new Map([...old].filter(([p]) => keep.includes(p)))));
    if (resetView) setTotal(null);
    for (const p of keep) fetchPage(p, gen);
  }, [fetchPage]);

  useEffect(() => {
    filterRef.current = JSON.parse(key) as RunFilter;
    onScreen.current = [0, 0];
    refetch(true);
  }, [key, refetch]);

  useEffect(
    () =>
      api.onEvent((event) => {
        if (event.type === 'runs-changed') refetch(false);
      }),
    [refetch],
  );

  const show = useCallback(
    (first: number, last: number) => {
      onScreen.current = [first, last];
      for (const p of pagesOf(onScreen.current)) if (!pages.has(p) && !inFlight.current.has(p)) fetchPage(p, generation.current);
    },
    [pages, fetchPage],
  );

  return {
    total,
    error,
    at: (index) => pages.get(Math.floor(index / RUN_PAGE_SIZE))?.[index % RUN_PAGE_SIZE],
    loaded: () => [...pages.keys()].sort((a, b) => a - b).flatMap((p) => pages.get(p) ?? []),
    show,
  };
}
