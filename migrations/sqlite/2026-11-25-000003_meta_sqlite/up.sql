-- Small named facts of a deployment (the identity of a simulation, ...).
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX transitions_at ON transitions (at);
