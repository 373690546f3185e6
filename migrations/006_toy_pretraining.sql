-- Runs gain pretrainCritic and fakeScoreFromDiffusion. Every run stored before them pretrained the
-- critic with the diffusion model and (KL) started its fake score from the diffusion model.
UPDATE runs SET config = json_set(config, '$.pretrainCritic', json('true'))
WHERE json_extract(config, '$.pretrainCritic') IS NULL;
UPDATE runs SET config = json_set(config, '$.fakeScoreFromDiffusion', json('true'))
WHERE json_extract(config, '$.fakeScoreFromDiffusion') IS NULL;
