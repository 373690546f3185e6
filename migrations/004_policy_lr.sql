-- Runs gain their own policy learning rate (policyLr). Every run stored before it trained its
-- policy at lr, so that is the value it gets.
UPDATE runs SET config = json_set(config, '$.policyLr', json_extract(config, '$.lr'))
WHERE json_extract(config, '$.policyLr') IS NULL;
