-- Every training attempt, on this machine or a remote worker, is named by a token: the owner of the
-- store applies a training process's events only while its token is the run's current one.
ALTER TABLE runs RENAME COLUMN remote_token TO attempt_token;
-- A pause, resume or stop asked of a run that another process owns; that owner takes it from here.
ALTER TABLE runs ADD COLUMN control_request TEXT CHECK (control_request IN ('pause', 'resume', 'stop'));
