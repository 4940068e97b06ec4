-- crucible schema, PostgreSQL flavour. Keep in step with migrations/sqlite and src/store/schema.rs.
-- Timestamps are UTC (TIMESTAMP WITHOUT TIME ZONE); ids are text; u64 seeds are stored bit-cast to i64.

CREATE TABLE tournaments (
    id TEXT PRIMARY KEY NOT NULL,
    tournament_type TEXT NOT NULL,
    status TEXT NOT NULL,
    base_winner_hotkey TEXT,
    winner_hotkey TEXT,
    winning_performance_difference DOUBLE PRECISION,
    champion_wins INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    cancel_reason TEXT
);
CREATE INDEX tournaments_type_status ON tournaments (tournament_type, status);

CREATE TABLE participants (
    tournament_id TEXT NOT NULL REFERENCES tournaments (id),
    hotkey TEXT NOT NULL,
    coldkey TEXT,
    repo_url TEXT NOT NULL,
    commit_hash TEXT NOT NULL,
    is_house BOOLEAN NOT NULL,
    admission TEXT NOT NULL,
    admission_reason TEXT NOT NULL,
    eliminated_in_round INTEGER,
    fee_rao BIGINT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tournament_id, hotkey)
);

CREATE TABLE rounds (
    id TEXT PRIMARY KEY NOT NULL,
    tournament_id TEXT NOT NULL REFERENCES tournaments (id),
    number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    is_final BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    seed BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    UNIQUE (tournament_id, number)
);

CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL,
    round_id TEXT NOT NULL REFERENCES rounds (id),
    number INTEGER NOT NULL
);
CREATE INDEX groups_round ON groups (round_id);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id),
    hotkey TEXT NOT NULL,
    PRIMARY KEY (group_id, hotkey)
);

CREATE TABLE pairs (
    id TEXT PRIMARY KEY NOT NULL,
    round_id TEXT NOT NULL REFERENCES rounds (id),
    number INTEGER NOT NULL,
    hotkey_a TEXT NOT NULL,
    hotkey_b TEXT NOT NULL,
    winner TEXT
);
CREATE INDEX pairs_round ON pairs (round_id);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    tournament_id TEXT NOT NULL REFERENCES tournaments (id),
    round_id TEXT NOT NULL REFERENCES rounds (id),
    group_id TEXT REFERENCES groups (id),
    pair_id TEXT REFERENCES pairs (id),
    task_type TEXT NOT NULL,
    model TEXT NOT NULL,
    model_params BIGINT,
    dataset TEXT NOT NULL,
    dataset_rows BIGINT,
    dataset_type_json TEXT NOT NULL,
    model_type TEXT,
    hours_to_complete DOUBLE PRECISION NOT NULL,
    replaces_task_id TEXT REFERENCES tasks (id),
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX tasks_round ON tasks (round_id);

CREATE TABLE trainings (
    task_id TEXT NOT NULL REFERENCES tasks (id),
    hotkey TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failure_reason TEXT,
    test_loss DOUBLE PRECISION,
    synth_loss DOUBLE PRECISION,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (task_id, hotkey)
);
CREATE INDEX trainings_hotkey ON trainings (hotkey);

CREATE TABLE training_attempts (
    task_id TEXT NOT NULL,
    hotkey TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    node_id TEXT,
    gpu_ids TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    outcome TEXT,
    reason TEXT,
    PRIMARY KEY (task_id, hotkey, attempt),
    FOREIGN KEY (task_id, hotkey) REFERENCES trainings (task_id, hotkey)
);

CREATE TABLE trainer_nodes (
    id TEXT PRIMARY KEY NOT NULL,
    address TEXT NOT NULL,
    fenced BOOLEAN NOT NULL,
    last_seen TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE gpus (
    node_id TEXT NOT NULL REFERENCES trainer_nodes (id),
    gpu_index INTEGER NOT NULL,
    class TEXT NOT NULL,
    model_name TEXT NOT NULL,
    vram_gb INTEGER NOT NULL,
    holder TEXT,
    PRIMARY KEY (node_id, gpu_index)
);

CREATE TABLE miners (
    hotkey TEXT PRIMARY KEY NOT NULL,
    coldkey TEXT NOT NULL,
    address TEXT NOT NULL,
    stake DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE coldkey_balances (
    coldkey TEXT PRIMARY KEY NOT NULL,
    balance_rao BIGINT NOT NULL
);

CREATE TABLE ledger_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coldkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_rao BIGINT NOT NULL,
    tournament_id TEXT,
    hotkey TEXT,
    reference TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ledger_events_coldkey ON ledger_events (coldkey, id);

CREATE TABLE transitions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    cause TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX transitions_entity ON transitions (entity_kind, entity_id, id);

-- The ledger is append-only: the database itself refuses edits and deletions.
CREATE FUNCTION ledger_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_events is append-only';
END;
$$;
CREATE TRIGGER ledger_events_no_change BEFORE UPDATE OR DELETE ON ledger_events
FOR EACH ROW EXECUTE FUNCTION ledger_events_append_only();
