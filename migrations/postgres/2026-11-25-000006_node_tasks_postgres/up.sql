-- A trainer node's own task records (trainer-node-api.md): what it was asked to train, on which GPUs,
-- and how it ended, so a restarted node still knows its tasks. Keep in step with migrations/sqlite.
CREATE TABLE node_tasks (
    task_id TEXT NOT NULL,
    hotkey TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    -- The start_training request as received (JSON object), answered back by GET /v1/trainer/{task_id}.
    request TEXT NOT NULL,
    gpu_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    -- A JSON list of log lines.
    logs TEXT NOT NULL,
    test_loss DOUBLE PRECISION,
    synth_loss DOUBLE PRECISION,
    failure_kind TEXT,
    PRIMARY KEY (task_id, hotkey)
);

CREATE INDEX node_tasks_status ON node_tasks (status);
CREATE INDEX node_tasks_started_at ON node_tasks (started_at);
