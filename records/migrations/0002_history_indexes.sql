-- Indexes for the history API: every filter with the newest-first
-- keyset order (time DESC, id DESC).
CREATE INDEX calls_arrived ON calls (arrived DESC, call_id DESC);
CREATE INDEX calls_agent ON calls (agent, arrived DESC, call_id DESC) WHERE agent <> '';
CREATE INDEX calls_customer ON calls (customer, arrived DESC, call_id DESC);
CREATE INDEX calls_queue ON calls (queue, arrived DESC, call_id DESC);
CREATE INDEX calls_segment ON calls (segment, arrived DESC, call_id DESC);
CREATE INDEX calls_rated ON calls (csat, arrived DESC, call_id DESC) WHERE csat IS NOT NULL;
CREATE INDEX events_at ON events (at DESC, event_id DESC);
CREATE INDEX events_agent ON events (agent, at DESC, event_id DESC) WHERE agent <> '';
CREATE INDEX events_customer ON events (customer, at DESC, event_id DESC) WHERE customer <> '';
CREATE INDEX events_call ON events (call_id) WHERE call_id <> '';
