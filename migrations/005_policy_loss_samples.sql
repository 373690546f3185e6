-- Runs gain policyLossSamples, the policy actions drawn per state for the policy loss. Every run
-- stored before it drew one, as the official code does.
UPDATE runs SET config = json_set(config, '$.policyLossSamples', 1)
WHERE json_extract(config, '$.policyLossSamples') IS NULL;
