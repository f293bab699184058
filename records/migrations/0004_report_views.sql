-- Report views over calls and events (all times UTC). Every rate is
-- given with the counts it is made of, so that a report over several
-- rows (queues, intervals) adds the counts and divides once.

-- One row per call with what the reports count. A call is "offered"
-- when it entered a queue; answered within the service level when an
-- agent took it within 20 s of the queue entry; "repeated" when the same
-- customer called again within 7 days (the first call then did not
-- resolve the matter: first-contact resolution counts the others).
CREATE VIEW call_facts AS
SELECT c.*,
       c.queued IS NOT NULL AS offered,
       c.outcome = 'answered' AS answered,
       c.outcome = 'abandoned' AS abandoned,
       c.outcome = 'answered' AND c.wait_seconds <= 20 AS answered_in_sl,
       CASE WHEN c.outcome = 'answered' THEN c.talk_seconds + c.hold_seconds + c.wrap_up_seconds END AS handle_seconds,
       CASE WHEN c.nps >= 9 THEN 1 WHEN c.nps <= 6 THEN -1 WHEN c.nps IS NOT NULL THEN 0 END AS nps_class,
       c.customer <> '' AND EXISTS (
           SELECT 1 FROM calls r
           WHERE r.customer = c.customer AND r.arrived > c.arrived AND r.arrived <= c.arrived + interval '7 days'
       ) AS repeated
FROM calls c;

-- Interval reports by queue: 15 minutes, hour, day.
CREATE VIEW report_queue_15m AS
SELECT date_bin('15 minutes', arrived, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, queue,
       count(*) FILTER (WHERE offered) AS offered,
       count(*) FILTER (WHERE answered) AS answered,
       count(*) FILTER (WHERE abandoned) AS abandoned,
       count(*) FILTER (WHERE answered_in_sl) AS answered_in_sl,
       coalesce(sum(wait_seconds) FILTER (WHERE answered), 0) AS answered_wait_seconds,
       coalesce(sum(handle_seconds), 0) AS handle_seconds,
       avg(wait_seconds) FILTER (WHERE answered) AS asa_seconds,
       avg(handle_seconds) AS aht_seconds,
       (count(*) FILTER (WHERE answered_in_sl))::float8 / nullif(count(*) FILTER (WHERE offered), 0) AS service_level,
       count(csat) AS csat_responses, coalesce(sum(csat), 0) AS csat_sum, avg(csat)::float8 AS csat_avg,
       count(nps_class) AS nps_responses, coalesce(sum(nps_class), 0) AS nps_net,
       100.0 * sum(nps_class) / nullif(count(nps_class), 0) AS nps,
       count(*) FILTER (WHERE answered AND NOT repeated) AS resolved_first_contact,
       (count(*) FILTER (WHERE answered AND NOT repeated))::float8 / nullif(count(*) FILTER (WHERE answered), 0) AS fcr
FROM call_facts GROUP BY 1, 2;

CREATE VIEW report_queue_hour AS
SELECT date_trunc('hour', arrived, 'UTC') AS bucket, queue,
       count(*) FILTER (WHERE offered) AS offered,
       count(*) FILTER (WHERE answered) AS answered,
       count(*) FILTER (WHERE abandoned) AS abandoned,
       count(*) FILTER (WHERE answered_in_sl) AS answered_in_sl,
       coalesce(sum(wait_seconds) FILTER (WHERE answered), 0) AS answered_wait_seconds,
       coalesce(sum(handle_seconds), 0) AS handle_seconds,
       avg(wait_seconds) FILTER (WHERE answered) AS asa_seconds,
       avg(handle_seconds) AS aht_seconds,
       (count(*) FILTER (WHERE answered_in_sl))::float8 / nullif(count(*) FILTER (WHERE offered), 0) AS service_level,
       count(csat) AS csat_responses, coalesce(sum(csat), 0) AS csat_sum, avg(csat)::float8 AS csat_avg,
       count(nps_class) AS nps_responses, coalesce(sum(nps_class), 0) AS nps_net,
       100.0 * sum(nps_class) / nullif(count(nps_class), 0) AS nps,
       count(*) FILTER (WHERE answered AND NOT repeated) AS resolved_first_contact,
       (count(*) FILTER (WHERE answered AND NOT repeated))::float8 / nullif(count(*) FILTER (WHERE answered), 0) AS fcr
FROM call_facts GROUP BY 1, 2;

CREATE VIEW report_queue_day AS
SELECT date_trunc('day', arrived, 'UTC') AS bucket, queue,
       count(*) FILTER (WHERE offered) AS offered,
       count(*) FILTER (WHERE answered) AS answered,
       count(*) FILTER (WHERE abandoned) AS abandoned,
       count(*) FILTER (WHERE answered_in_sl) AS answered_in_sl,
       coalesce(sum(wait_seconds) FILTER (WHERE answered), 0) AS answered_wait_seconds,
       coalesce(sum(handle_seconds), 0) AS handle_seconds,
       avg(wait_seconds) FILTER (WHERE answered) AS asa_seconds,
       avg(handle_seconds) AS aht_seconds,
       (count(*) FILTER (WHERE answered_in_sl))::float8 / nullif(count(*) FILTER (WHERE offered), 0) AS service_level,
       count(csat) AS csat_responses, coalesce(sum(csat), 0) AS csat_sum, avg(csat)::float8 AS csat_avg,
       count(nps_class) AS nps_responses, coalesce(sum(nps_class), 0) AS nps_net,
       100.0 * sum(nps_class) / nullif(count(nps_class), 0) AS nps,
       count(*) FILTER (WHERE answered AND NOT repeated) AS resolved_first_contact,
       (count(*) FILTER (WHERE answered AND NOT repeated))::float8 / nullif(count(*) FILTER (WHERE answered), 0) AS fcr
FROM call_facts GROUP BY 1, 2;

-- An agent's spans from the events: a pause lasts until the next
-- unpause, pause, logout or login of that agent (or until now); a
-- session from login until the next logout or login.
CREATE VIEW agent_pauses AS
SELECT agent, reason, at AS started, coalesce(next_at, now()) AS ended,
       extract(epoch FROM coalesce(next_at, now()) - at) AS seconds
FROM (
    SELECT agent, kind, reason, at,
           lead(at) OVER (PARTITION BY agent ORDER BY at, event_id) AS next_at
    FROM events WHERE agent <> '' AND kind IN ('pause', 'unpause', 'login', 'logout')
) e WHERE kind = 'pause';

CREATE VIEW agent_sessions AS
SELECT agent, at AS started, coalesce(next_at, now()) AS ended,
       extract(epoch FROM coalesce(next_at, now()) - at) AS seconds
FROM (
    SELECT agent, kind, at,
           lead(at) OVER (PARTITION BY agent ORDER BY at, event_id) AS next_at
    FROM events WHERE agent <> '' AND kind IN ('login', 'logout')
) e WHERE kind = 'login';

-- Per agent and day: calls, talk, hold, wrap-up, CSAT; time logged in
-- and paused (by the day the span started); occupancy is handle time
-- over the time logged in and not paused.
CREATE VIEW report_agent_day AS
WITH calls_day AS (
    SELECT date_trunc('day', arrived, 'UTC') AS day, agent,
           count(*) FILTER (WHERE answered) AS answered,
           coalesce(sum(talk_seconds), 0) AS talk_seconds,
           coalesce(sum(hold_seconds), 0) AS hold_seconds,
           coalesce(sum(wrap_up_seconds), 0) AS wrap_up_seconds,
           coalesce(sum(handle_seconds), 0) AS handle_seconds,
           count(csat) AS csat_responses, avg(csat)::float8 AS csat_avg
    FROM call_facts WHERE agent <> '' GROUP BY 1, 2
), logged AS (
    SELECT date_trunc('day', started, 'UTC') AS day, agent, sum(seconds) AS logged_in_seconds
    FROM agent_sessions GROUP BY 1, 2
), paused AS (
    SELECT date_trunc('day', started, 'UTC') AS day, agent, sum(seconds) AS paused_seconds
    FROM agent_pauses GROUP BY 1, 2
)
SELECT coalesce(c.day, l.day, p.day) AS day, coalesce(c.agent, l.agent, p.agent) AS agent,
       coalesce(c.answered, 0) AS answered, coalesce(c.talk_seconds, 0) AS talk_seconds,
       coalesce(c.hold_seconds, 0) AS hold_seconds, coalesce(c.wrap_up_seconds, 0) AS wrap_up_seconds,
       coalesce(c.handle_seconds, 0) AS handle_seconds,
       coalesce(l.logged_in_seconds, 0)::float8 AS logged_in_seconds, coalesce(p.paused_seconds, 0)::float8 AS paused_seconds,
       coalesce(c.handle_seconds, 0) / nullif(coalesce(l.logged_in_seconds, 0) - coalesce(p.paused_seconds, 0), 0)::float8 AS occupancy,
       coalesce(c.csat_responses, 0) AS csat_responses, c.csat_avg
FROM calls_day c
FULL JOIN logged l ON l.day = c.day AND l.agent = c.agent
FULL JOIN paused p ON p.day = coalesce(c.day, l.day) AND p.agent = coalesce(c.agent, l.agent);

-- Pause time by agent, day and reason.
CREATE VIEW report_agent_pause_day AS
SELECT date_trunc('day', started, 'UTC') AS day, agent, reason, count(*) AS pauses, sum(seconds)::float8 AS seconds
FROM agent_pauses GROUP BY 1, 2, 3;

-- Satisfaction by segment, reason, hour of day and weekday (UTC; ISO
-- weekday, 1 = Monday), one row per combination and day.
CREATE VIEW report_satisfaction AS
SELECT date_trunc('day', arrived, 'UTC') AS day, segment, reason,
       extract(hour FROM arrived AT TIME ZONE 'UTC')::int AS hour, extract(isodow FROM arrived AT TIME ZONE 'UTC')::int AS weekday,
       count(csat) AS csat_responses, coalesce(sum(csat), 0) AS csat_sum,
       count(*) FILTER (WHERE csat >= 4) AS satisfied, avg(csat)::float8 AS csat_avg,
       count(nps_class) AS nps_responses, coalesce(sum(nps_class), 0) AS nps_net
FROM call_facts WHERE csat IS NOT NULL OR nps IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;
