/**
 * Seconds as a short duration for people: "42 s", "3 min 07 s", "2 h 05 min". One format for the
 * CLI's progress line and estimates and the UI's tables, ETAs and sweep previews; `none` stands in
 * for an unknown or non-finite duration.
 */
export function formatDuration(seconds: number | null | undefined, none = '-'): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return none;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
