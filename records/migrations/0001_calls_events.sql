-- One row per finished call and the queue/agent/customer events (the
-- queue_log). Ids sort bytewise (COLLATE "C") so that keyset cursors
-- order rows as the file backend does.
CREATE TABLE calls (
    call_id      text COLLATE "C" PRIMARY KEY,
    direction    text NOT NULL DEFAULT '',
    hotline      text NOT NULL DEFAULT '',
    queue        text NOT NULL DEFAULT '',
    customer     text NOT NULL DEFAULT '',
    customer_id  text NOT NULL DEFAULT '',
    segment      text NOT NULL DEFAULT '',
    style        text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    agent        text NOT NULL DEFAULT '',
    arrived      timestamptz NOT NULL,
    queued       timestamptz,
    connected    timestamptz,
    survey_start timestamptz,
    ended        timestamptz NOT NULL,
    wait_seconds    double precision NOT NULL DEFAULT 0,
    answer_seconds  double precision NOT NULL DEFAULT 0,
    talk_seconds    double precision NOT NULL DEFAULT 0,
    hold_seconds    double precision NOT NULL DEFAULT 0,
    wrap_up_seconds double precision NOT NULL DEFAULT 0,
    outcome      text NOT NULL,
    cause        text NOT NULL DEFAULT '',
    csat         smallint CHECK (csat BETWEEN 1 AND 5),
    nps          smallint CHECK (nps BETWEEN 0 AND 10),
    recording    text NOT NULL DEFAULT '',
    callback     text NOT NULL DEFAULT '',
    legs         jsonb,
    transfers    jsonb,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    event_id text COLLATE "C" PRIMARY KEY,
    at       timestamptz NOT NULL,
    kind     text NOT NULL,
    call_id  text NOT NULL DEFAULT '',
    agent    text NOT NULL DEFAULT '',
    queue    text NOT NULL DEFAULT '',
    customer text NOT NULL DEFAULT '',
    position integer NOT NULL DEFAULT 0,
    duration_seconds double precision NOT NULL DEFAULT 0,
    reason   text NOT NULL DEFAULT '',
    detail   jsonb
);
