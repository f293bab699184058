-- Service state that survives a restart (registrations, agent states),
-- one JSON document per kind; the newest of this and the local copy wins.
CREATE TABLE state (
    kind       text COLLATE "C" PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
