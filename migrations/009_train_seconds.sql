-- Runs gain train_seconds: time spent training over all attempts, without the time paused or
-- stopped. Runs stored before it get their start-to-finish span, the best that is known of them.
ALTER TABLE runs ADD COLUMN train_seconds REAL NOT NULL DEFAULT 0;
UPDATE runs SET train_seconds = (finished_at - started_at) / 1000.0 WHERE started_at IS NOT NULL AND finished_at IS NOT NULL;
