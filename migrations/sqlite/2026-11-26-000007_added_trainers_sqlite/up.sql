-- Trainer nodes an operator added through the control API (add_trainer), beside those configured in
-- validator.nodes: restored into the remote executor at every start. The token is what the node asks
-- for (its trainer_node.token), stored like the rest of the validator's state. Keep in step with
-- migrations/postgres.
CREATE TABLE added_trainers (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    -- Being removed: fenced until the trainings holding its GPUs end, then removed by the operator.
    draining BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);
