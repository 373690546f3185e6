-- Runs, their tags, metrics and checkpoints, and imported datasets (DESIGN.md, Storage).

CREATE TABLE datasets (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT    NOT NULL UNIQUE,
  format        TEXT    NOT NULL CHECK (format IN ('d4rl', 'minari', 'generated')),
  source_path   TEXT,
  stored_path   TEXT,
  sha256        TEXT    NOT NULL,
  bytes         INTEGER NOT NULL,
  env           TEXT,
  suggested_task TEXT,
  transitions   INTEGER NOT NULL,
  episodes      INTEGER NOT NULL,
  obs_dim       INTEGER NOT NULL,
  act_dim       INTEGER NOT NULL,
  stats         TEXT    NOT NULL DEFAULT '{}',
  warnings      TEXT    NOT NULL DEFAULT '[]',
  created_at    INTEGER NOT NULL
);

CREATE TABLE runs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  name           TEXT    NOT NULL,
  task           TEXT    NOT NULL,
  algo           TEXT    NOT NULL CHECK (algo IN ('dtql', 'kl')),
  preset         TEXT    NOT NULL,
  config         TEXT    NOT NULL,
  seed           INTEGER NOT NULL,
  status         TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'completed', 'stopped', 'failed', 'diverged', 'interrupted')),
  error          TEXT,
  backend        TEXT,
  backend_reason TEXT,
  versions       TEXT    NOT NULL DEFAULT '{}',
  dataset_id     INTEGER REFERENCES datasets(id) ON DELETE RESTRICT,
  created_at     INTEGER NOT NULL,
  started_at     INTEGER,
  finished_at    INTEGER,
  steps_done     INTEGER NOT NULL DEFAULT 0,
  steps_total    INTEGER NOT NULL,
  best_score     REAL,
  final_score    REAL,
  final_metrics  TEXT    NOT NULL DEFAULT '{}',
  notes          TEXT    NOT NULL DEFAULT '',
  archived       INTEGER NOT NULL DEFAULT 0,
  owner_pid      INTEGER,
  owner_host     TEXT,
  heartbeat_at   INTEGER
);
CREATE INDEX runs_task ON runs(task);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_created ON runs(created_at);

CREATE TABLE run_tags (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  tag    TEXT    NOT NULL,
  PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_tag ON run_tags(tag);

-- One row per logged value; (run, metric, step) is unique so a resumed run overwrites the steps it
-- repeats after its last checkpoint instead of duplicating them.
CREATE TABLE metrics (
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name      TEXT    NOT NULL,
  step      INTEGER NOT NULL,
  wall_time REAL    NOT NULL,
  value     REAL    NOT NULL,
  PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step       INTEGER NOT NULL,
  path       TEXT    NOT NULL,
  sha256     TEXT    NOT NULL,
  bytes      INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (run_id, step)
);
