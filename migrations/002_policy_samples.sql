-- Policy actions drawn at evaluations (the 2D bandit scatters), kept so a plot can be redrawn later.
CREATE TABLE policy_samples (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step   INTEGER NOT NULL,
  dims   INTEGER NOT NULL,
  data   BLOB    NOT NULL, -- float32, little-endian, row-major [n, dims]
  PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
