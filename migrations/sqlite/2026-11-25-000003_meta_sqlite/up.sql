-- Process-wide key/value facts (a simulation's resume point, ...). Keep in step with migrations/postgres.
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- `last_transition_at` (a restarted simulation's clock) reads the latest time of the whole log.
CREATE INDEX transitions_at ON transitions (at);
