-- Runs gain policyInitLogStd, the one-step policy's log-std at initialisation. Every run stored
-- before it started at 0, as the official code does.
UPDATE runs SET config = json_set(config, '$.policyInitLogStd', 0)
WHERE json_extract(config, '$.policyInitLogStd') IS NULL;
