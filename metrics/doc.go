// Package metrics holds Hotline's Prometheus metrics: a typed API the call
// flow, routing and recording call (CallOffered, QueueWait, CSAT, ...),
// callbacks read at scrape time (queues, agents, RTP legs, recording
// backlog), and an HTTP endpoint serving them from the package's own
// registry, in OpenMetrics when the scraper asks for it (the only format
// that carries exemplars). With Config.Pprof (metrics.pprof: true) the same
// listener also serves Go's profiles under /debug/pprof/ (net/http/pprof,
// on the server's own mux); off, those paths answer 404.
//
// # Conventions
//
// Every name starts with hotline_ (the Name* constants are the one list
// the rules in deploy/prometheus and the dashboards in deploy/grafana are
// checked against); durations are in seconds; counters end in _total.
// Labels are bounded: queue, segment, reason, outcome, state, method,
// status_class, direction, survey, wait (a wait band), hour ("0".."23")
// and weekday ("mon".."sun"). Caller numbers never appear; call ids
// appear only as the exemplar label call_id.
//
// Hour and weekday are those of the call's arrival in the hotline's time
// zone (Config.TimeZone, injected as Options.Location), so a call at
// 23:30 UTC is hour "6" in Asia/Ho_Chi_Minh.
//
// # Satisfaction
//
// CSAT ratings are the histogram hotline_csat_score{queue, segment,
// reason, hour, weekday} with one bucket per score: _sum/_count is the
// average and le="3" counts the unsatisfied (1-3). NPS answers are
// hotline_nps_score with buckets le="6" (detractors) and le="8"
// (detractors and passives). Unanswered questions are
// hotline_survey_no_responses_total{..., survey="csat"|"nps"}.
// hotline_csat_score_by_wait{queue, segment, wait} puts ratings next to
// the wait the caller had.
//
// Responses are sparse, and a series that appears already at 1 is missed
// by increase() (Prometheus 2 has no created timestamps). The queries
// below therefore take, for a window R, a series' whole value when it did
// not exist R ago and its increase otherwise:
//
//	F(x) = (x unless x offset R) or increase(x[R])
//
// Average CSAT for each hour 0-23 over the last day (one query):
//
//	sum by (hour) ((hotline_csat_score_sum unless hotline_csat_score_sum offset 1d) or increase(hotline_csat_score_sum[1d]))
//	/
//	sum by (hour) ((hotline_csat_score_count unless hotline_csat_score_count offset 1d) or increase(hotline_csat_score_count[1d]))
//
// Share of satisfied (4-5) callers by hour (one query; le is "3" in the
// text format and "3.0" in OpenMetrics, hence the regular expression):
//
//	1 - sum by (hour) ((hotline_csat_score_bucket{le=~"3|3.0"} unless hotline_csat_score_bucket{le=~"3|3.0"} offset 1d) or increase(hotline_csat_score_bucket{le=~"3|3.0"}[1d]))
//	  / sum by (hour) ((hotline_csat_score_count unless hotline_csat_score_count offset 1d) or increase(hotline_csat_score_count[1d]))
//
// Replace "by (hour)" with "by (weekday)", "by (weekday, hour)",
// "by (segment)", "by (queue)" or "by (reason)" for the other breakdowns.
// The recording rules queue_hour:hotline_csat_score:avg1d and
// queue_hour:hotline_csat_satisfied:ratio1d in
// deploy/prometheus/rules/hotline.rules.yml keep both per queue.
//
// NPS by hour: 100 * (count - bucket{le="8"} - bucket{le="6"}) / count,
// each term F()-wrapped and summed by hour.
//
// # Queues and service level
//
// Every offered call (hotline_calls_offered_total) should leave the queue
// exactly once through QueueWait, which observes hotline_queue_wait_seconds
// {queue, segment, outcome} and hotline_queue_wait_by_hour_seconds{queue,
// hour, weekday} and counts hotline_queue_calls_total{queue, segment,
// outcome}; answered calls within the queue's threshold
// (hotline_queue_service_level_threshold_seconds) also count in
// hotline_calls_answered_within_threshold_total.
//
//	service level:      sum by (queue) (rate(hotline_calls_answered_within_threshold_total[5m])) / sum by (queue) (rate(hotline_queue_calls_total[5m]))
//	average speed of answer: sum by (queue) (rate(hotline_queue_wait_seconds_sum{outcome="answered"}[5m])) / sum by (queue) (rate(hotline_queue_wait_seconds_count{outcome="answered"}[5m]))
//	abandonment rate:   sum by (queue) (rate(hotline_queue_calls_total{outcome="abandoned"}[5m])) / sum by (queue) (rate(hotline_queue_calls_total[5m]))
//	wait p90 by hour:   histogram_quantile(0.9, sum by (le, hour) (F(hotline_queue_wait_by_hour_seconds_bucket)))
//
// # Live state
//
// Gauges read at scrape time through callbacks: callers waiting, longest
// current wait and opening state per queue (SetQueueSource), agents by
// queue and state (SetAgentSource), calls in progress
// (SetActiveCallsSource), registered phones (SetRegistrationSource), RTP
// counters and jitter over live legs plus legs that ended (SetRTPSource,
// RTPLegEnded), the recording backlog (SetBacklogSource), and the
// call-records store's health (SetRecordsSource): records written and
// spooled, batches waiting in its spool, whether its backend takes
// writes (hotline_records_backend_up) and records held in memory because
// neither the backend nor the spool took them (hotline_records_held).
//
// # Callbacks
//
// The callback dialer counts every call it places to a customer in
// hotline_callback_attempts_total{queue, kind, result} (result answered,
// busy, no_answer, declined, unreachable, abandoned, error), callbacks
// whose customer talked to an agent in hotline_callbacks_completed_total
// {queue, kind}, and callbacks given up in hotline_callbacks_failed_total
// {queue, kind, reason} (reason attempts, invalid_number, not_allowed,
// no_time, unknown_queue); kind is queued, follow_up or other.
//
//	callback reach rate: sum by (queue) (rate(hotline_callback_attempts_total{result="answered"}[1h])) / sum by (queue) (rate(hotline_callback_attempts_total[1h]))
package metrics
