package metrics

// Metric names. This is the one list the package, deploy/prometheus rules
// and deploy/grafana dashboards agree on; the tests check the rules and
// dashboards against it.
const (
	// Calls and queues.
	NameCallsOffered          = "hotline_calls_offered_total"
	NameCallsRefused          = "hotline_calls_refused_total"
	NameOverloadSaturation    = "hotline_overload_saturation_ratio"
	NameOverloadShedding      = "hotline_overload_shedding"
	NameOverloadRefusedShare  = "hotline_overload_refused_ratio"
	NameOverloadMaxCPS        = "hotline_overload_max_calls_per_second"
	NameOverloadLearnedCPS    = "hotline_overload_learned_calls_per_second"
	NameKeypadAbandoned       = "hotline_keypad_abandoned_total"
	NameQueueEmptyTurnedAway  = "hotline_queue_empty_turned_away_total"
	NameDispositions          = "hotline_dispositions_total"
	NameQueueCalls            = "hotline_queue_calls_total"
	NameQueueWait             = "hotline_queue_wait_seconds"
	NameQueueWaitByHour       = "hotline_queue_wait_by_hour_seconds"
	NameAnsweredWithinSL      = "hotline_calls_answered_within_threshold_total"
	NameServiceLevelThreshold = "hotline_queue_service_level_threshold_seconds"
	NameServiceLevelTarget    = "hotline_queue_service_level_target_ratio"
	NameHandleTime            = "hotline_handle_time_seconds"
	NameCallsActive           = "hotline_calls_active"
	NameQueueCallsActive      = "hotline_queue_calls_active"
	NameCallersWaiting        = "hotline_queue_callers_waiting"
	NameLongestWait           = "hotline_queue_longest_wait_seconds"
	NameQueueOpen             = "hotline_queue_open"
	// NameCallsLost counts, per queue, the calls ended because the node
	// they were on died (several nodes); from the shared ACD.
	NameCallsLost = "hotline_calls_lost_total"
	// NameRefusalTime is how long after a refused INVITE reached Hotline's
	// SIP socket (the kernel's arrival stamp) the door sent its 503.
	NameRefusalTime = "hotline_calls_refused_seconds"
	// NameAnswerDelay is the time Hotline itself took to answer a caller
	// whom an agent took directly (not answered first to wait in the
	// queue): from the INVITE's handler to the caller's 200 OK, less the
	// time the agent's phone took to answer its INVITE.
	NameAnswerDelay = "hotline_answer_delay_seconds"
	// NameSIPSocketWait is how long SIP datagrams waited in Hotline's UDP
	// sockets before it read them (the kernel's arrival stamp → the read).
	NameSIPSocketWait = "hotline_sip_socket_wait_seconds"

	// Satisfaction.
	NameCSAT             = "hotline_csat_score"
	NameCSATByWait       = "hotline_csat_score_by_wait"
	NameNPS              = "hotline_nps_score"
	NameSurveyNoResponse = "hotline_survey_no_responses_total"

	// Agents.
	NameAgents         = "hotline_agents"
	NameAgentNoAnswers = "hotline_agent_no_answers_total"
	NameAgentLogins    = "hotline_agent_logins_total"
	NameAgentLogouts   = "hotline_agent_logouts_total"
	NameAgentState     = "hotline_agent_state"
	NameAgentCalls     = "hotline_agent_calls_total"
	NameAgentTalk      = "hotline_agent_talk_seconds_total"
	NameAgentCSAT      = "hotline_agent_csat_score"

	// Media.
	NameRTPLegs    = "hotline_rtp_legs"
	NameRTPPackets = "hotline_rtp_packets_total"
	NameRTPBytes   = "hotline_rtp_bytes_total"
	NameRTPLost    = "hotline_rtp_packets_lost_total"
	NameRTPDropped = "hotline_rtp_packets_dropped_total"
	// NameRTPKernel counts packets by what the in-kernel relay did with
	// them (rtp.kernel): relayed, or passed to the user-space relay as
	// the ring buffer was full or the packet too long for it.
	NameRTPKernel     = "hotline_rtp_kernel_packets_total"
	NameRTPJitterMean = "hotline_rtp_jitter_mean_seconds"
	NameRTPJitterMax  = "hotline_rtp_jitter_max_seconds"

	// SIP.
	NameSIPRequests      = "hotline_sip_requests_total"
	NameSIPResponses     = "hotline_sip_responses_total"
	NameSIPRegistrations = "hotline_sip_registrations_total"
	NameSIPRegistered    = "hotline_sip_registered_contacts"

	// Recording.
	NameRecordingBacklogFiles  = "hotline_recording_backlog_files"
	NameRecordingBacklogBytes  = "hotline_recording_backlog_bytes"
	NameRecordingBacklogOldest = "hotline_recording_backlog_oldest_seconds"
	NameRecordingsInProgress   = "hotline_recordings_in_progress"
	NameRecordingsUploaded     = "hotline_recordings_uploaded_total"
	NameRecordingUploadFails   = "hotline_recording_upload_failures_total"
	NameRecordingDropped       = "hotline_recording_dropped_packets_total"
	NameRecordingUploadTime    = "hotline_recording_upload_duration_seconds"
	NameSpoolFree              = "hotline_recording_spool_free_bytes"
	NameSpoolSize              = "hotline_recording_spool_size_bytes"

	// Call records store (records.Store): the backend, its local spool
	// and the records kept in memory when even the spool refuses them.
	NameRecordsWritten      = "hotline_records_written_total"
	NameRecordsSpooled      = "hotline_records_spooled_total"
	NameRecordsSpoolBatches = "hotline_records_spool_batches"
	NameRecordsBackendUp    = "hotline_records_backend_up"
	NameRecordsHeld         = "hotline_records_held"

	// Customer directory.
	NameCRMFailures = "hotline_crm_lookup_failures_total"

	// Callbacks (the dialer calling customers back).
	NameCallbackAttempts   = "hotline_callback_attempts_total"
	NameCallbacksCompleted = "hotline_callbacks_completed_total"
	NameCallbacksFailed    = "hotline_callbacks_failed_total"

	// Transfers and supervisor monitoring.
	NameTransfers       = "hotline_transfers_total"
	NameMonitorSessions = "hotline_monitor_sessions_total"
	NameMonitorTime     = "hotline_monitor_seconds_total"
	NameMonitorModes    = "hotline_monitor_modes_total"
	// Configuration reloads (SIGHUP, file change).
	NameConfigReloadOK   = "hotline_config_last_reload_successful"
	NameConfigReloadTime = "hotline_config_last_reload_success_timestamp_seconds"

	// Build.
	NameBuildInfo = "hotline_build_info"
)

// metricKind is how a name is exposed, which decides its sample names.
type metricKind int

const (
	kindCounter metricKind = iota
	kindGauge
	kindHistogram
)

// allNames lists every hotline_ metric family with its kind.
var allNames = []struct {
	name string
	kind metricKind
}{
	{NameCallsOffered, kindCounter},
	{NameKeypadAbandoned, kindCounter},
	{NameQueueEmptyTurnedAway, kindCounter},
	{NameDispositions, kindCounter},
	{NameQueueCalls, kindCounter},
	{NameQueueWait, kindHistogram},
	{NameQueueWaitByHour, kindHistogram},
	{NameAnsweredWithinSL, kindCounter},
	{NameServiceLevelThreshold, kindGauge},
	{NameServiceLevelTarget, kindGauge},
	{NameHandleTime, kindHistogram},
	{NameCallsActive, kindGauge},
	{NameQueueCallsActive, kindGauge},
	{NameCallersWaiting, kindGauge},
	{NameLongestWait, kindGauge},
	{NameQueueOpen, kindGauge},
	{NameCallsLost, kindCounter},
	{NameCSAT, kindHistogram},
	{NameCSATByWait, kindHistogram},
	{NameNPS, kindHistogram},
	{NameSurveyNoResponse, kindCounter},
	{NameAgents, kindGauge},
	{NameAgentNoAnswers, kindCounter},
	{NameAgentLogins, kindCounter},
	{NameAgentLogouts, kindCounter},
	{NameAgentState, kindGauge},
	{NameAgentCalls, kindCounter},
	{NameAgentTalk, kindCounter},
	{NameAgentCSAT, kindHistogram},
	{NameCallsRefused, kindCounter},
	{NameOverloadSaturation, kindGauge},
	{NameOverloadShedding, kindGauge},
	{NameOverloadRefusedShare, kindGauge},
	{NameOverloadMaxCPS, kindGauge},
	{NameOverloadLearnedCPS, kindGauge},
	{NameRefusalTime, kindHistogram},
	{NameAnswerDelay, kindHistogram},
	{NameSIPSocketWait, kindHistogram},
	{NameRTPLegs, kindGauge},
	{NameRTPPackets, kindCounter},
	{NameRTPBytes, kindCounter},
	{NameRTPLost, kindCounter},
	{NameRTPDropped, kindCounter},
	{NameRTPKernel, kindCounter},
	{NameRTPJitterMean, kindGauge},
	{NameRTPJitterMax, kindGauge},
	{NameSIPRequests, kindCounter},
	{NameSIPResponses, kindCounter},
	{NameSIPRegistrations, kindCounter},
	{NameSIPRegistered, kindGauge},
	{NameRecordingBacklogFiles, kindGauge},
	{NameRecordingBacklogBytes, kindGauge},
	{NameRecordingBacklogOldest, kindGauge},
	{NameRecordingsInProgress, kindGauge},
	{NameRecordingsUploaded, kindCounter},
	{NameRecordingUploadFails, kindCounter},
	{NameRecordingDropped, kindCounter},
	{NameRecordingUploadTime, kindHistogram},
	{NameSpoolFree, kindGauge},
	{NameSpoolSize, kindGauge},
	{NameRecordsWritten, kindCounter},
	{NameRecordsSpooled, kindCounter},
	{NameRecordsSpoolBatches, kindGauge},
	{NameRecordsBackendUp, kindGauge},
	{NameRecordsHeld, kindGauge},
	{NameCRMFailures, kindCounter},
	{NameCallbackAttempts, kindCounter},
	{NameCallbacksCompleted, kindCounter},
	{NameCallbacksFailed, kindCounter},
	{NameTransfers, kindCounter},
	{NameMonitorSessions, kindCounter},
	{NameMonitorTime, kindCounter},
	{NameMonitorModes, kindCounter},
	{NameConfigReloadOK, kindGauge},
	{NameConfigReloadTime, kindGauge},
	{NameBuildInfo, kindGauge},
}

// MetricNames returns every hotline_ metric family name, in a fixed order.
func MetricNames() []string {
	out := make([]string, len(allNames))
	for i, n := range allNames {
		out[i] = n.name
	}
	return out
}

// SeriesNames returns every series name a PromQL expression may use for
// Hotline's own metrics: counters and gauges as named, histograms as their
// _bucket, _sum and _count series.
func SeriesNames() []string {
	var out []string
	for _, n := range allNames {
		if n.kind == kindHistogram {
			out = append(out, n.name+"_bucket", n.name+"_sum", n.name+"_count")
			continue
		}
		out = append(out, n.name)
	}
	return out
}
