-- Sweeps: a grid of runs queued together (task x algorithm x hyperparameters x seeds), and what
-- remote workers need: which worker trained a run, and the store's own id.
CREATE TABLE sweeps (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT    NOT NULL,
  spec       TEXT    NOT NULL, -- the sweep file as JSON: keys to one value or a list (a grid axis)
  axes       TEXT    NOT NULL, -- JSON array: the keys with more than one value, seed excluded
  created_at INTEGER NOT NULL
);

ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(id) ON DELETE SET NULL;
-- This run's values on the sweep's axes (JSON object), the grid point its seeds share.
ALTER TABLE runs ADD COLUMN sweep_point TEXT;
-- The worker that trains (or trained) it: null for this machine's own training processes.
ALTER TABLE runs ADD COLUMN worker TEXT;
-- The remote training attempt whose results count (a handed-over run's earlier attempt is ignored).
ALTER TABLE runs ADD COLUMN remote_token TEXT;

-- Small facts about this store: its id (names its Redis keys), the Redis stream position applied.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX runs_sweep ON runs(sweep_id);
