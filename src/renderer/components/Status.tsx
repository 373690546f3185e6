import type { RunStatus } from '../../api/contract';

export function StatusBadge({ status }: { status: RunStatus }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

/**
 * A column header's sort button; its arrow is always laid out and shown only on the sorted column,
 * so the widths hold whichever column sorts.
 */
export function SortButton({ label, sorted, ascending, onClick }: { label: string; sorted: boolean; ascending: boolean; onClick: () => void }) {
  return (
    <button className="sort" onClick={onClick}>
      {label}
      <span className="sort-arrow" aria-hidden style={{ visibility: sorted ? 'visible' : 'hidden' }}>
        {sorted && ascending ? '▲' : '▼'}
      </span>
    </button>
  );
}

export function ErrorNote({ message }: { message: string }) {
  return (
    <p className="error" role="alert">
      {message}
    </p>
  );
}

/** Runs are stored with UTC ISO times; people read them in their own time zone. */
export function formatTime(iso: string | null): string {
  if (!iso) return '-';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

/** Seconds as a short duration: 42 s, 3m 07s, 2h 05m; '-' for none. */
export function formatDuration(sec: number | null): string {
  if (sec === null) return '-';
  if (sec < 60) return `${Math.round(sec)} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m}m ${String(Math.round(sec % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
