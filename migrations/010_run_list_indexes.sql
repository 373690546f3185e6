-- History at a million runs. The default filter (not archived) counts and pages through an index
-- instead of reading every row: entries of one `archived` value are in id order, so the newest page
-- is a short walk. Task, algorithm and status filters count from indexes of their own, and the
-- algorithm filter's choices come from an index as the task's and status's do.
CREATE INDEX runs_archived ON runs(archived);
CREATE INDEX runs_archived_task ON runs(archived, task);
CREATE INDEX runs_archived_algo ON runs(archived, algo);
CREATE INDEX runs_archived_status ON runs(archived, status);
CREATE INDEX runs_algo ON runs(algo);
-- The run queue takes its oldest queued runs twice a second: a walk of this index, not a sort.
CREATE INDEX runs_queue ON runs(status, created_at);
