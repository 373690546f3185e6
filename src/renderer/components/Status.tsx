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

