package metrics

import "github.com/prometheus/client_golang/prometheus"

// Callback attempt results for Metrics.CallbackAttempt: how one call to
// the customer ended.
const (
	CallbackAnswered    = "answered"    // the customer answered and was connected
	CallbackBusy        = "busy"        // 486, 600
	CallbackNoAnswer    = "no_answer"   // rang out (ring timeout, 480, 408)
	CallbackDeclined    = "declined"    // 603
	CallbackUnreachable = "unreachable" // 404, 410, 484, 5xx, no response from the gateway
	CallbackAbandoned   = "abandoned"   // the agent hung up before the customer answered
	CallbackError       = "error"       // anything else
)

// Callback failure reasons for Metrics.CallbackFailed: why a callback was
// given up.
const (
	CallbackFailAttempts      = "attempts"       // every allowed attempt was made
	CallbackFailInvalidNumber = "invalid_number" // not a number that can be dialled
	CallbackFailNotAllowed    = "not_allowed"    // outside the allowed prefixes
	CallbackFailNoTime        = "no_time"        // no time within the schedule and outside quiet hours
	CallbackFailUnknownQueue  = "unknown_queue"  // its queue is no longer configured
)

var (
	callbackResults = map[string]bool{CallbackAnswered: true, CallbackBusy: true, CallbackNoAnswer: true,
		CallbackDeclined: true, CallbackUnreachable: true, CallbackAbandoned: true, CallbackError: true}
	callbackFailReasons = map[string]bool{CallbackFailAttempts: true, CallbackFailInvalidNumber: true,
		CallbackFailNotAllowed: true, CallbackFailNoTime: true, CallbackFailUnknownQueue: true}
	callbackKinds = map[string]bool{"queued": true, "follow_up": true}
)

const (
	lKind   = "kind"
	lResult = "result"
)

// callbackMetrics count the callback dialer's work.
type callbackMetrics struct {
	attempts  *prometheus.CounterVec
	completed *prometheus.CounterVec
	failed    *prometheus.CounterVec
}

func newCallbackMetrics(reg *prometheus.Registry) *callbackMetrics {
	c := &callbackMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameCallbackAttempts,
			Help: "Calls placed to customers for callbacks, by result (answered, busy, no_answer, declined, unreachable, abandoned, error)."},
			[]string{lQueue, lKind, lResult}),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameCallbacksCompleted,
			Help: "Callbacks completed: the customer talked to an agent."}, []string{lQueue, lKind}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameCallbacksFailed,
			Help: "Callbacks given up, by reason (attempts, invalid_number, not_allowed, no_time, unknown_queue)."},
			[]string{lQueue, lKind, lReason}),
	}
	reg.MustRegister(c.attempts, c.completed, c.failed)
	return c
}

func callbackKind(kind string) string {
	if callbackKinds[kind] {
		return kind
	}
	return "other"
}

// CallbackAttempt counts one call placed to a customer for a callback of
// a kind (queued, follow_up) in a queue; result is one of the Callback
// result constants (anything else counts as error).
func (m *Metrics) CallbackAttempt(queue, kind, result string) {
	if m == nil {
		return
	}
	if !callbackResults[result] {
		result = CallbackError
	}
	m.callbacks.attempts.WithLabelValues(orDefault(queue, "unknown"), callbackKind(kind), result).Inc()
}

// CallbackCompleted counts a callback whose customer talked to an agent.
func (m *Metrics) CallbackCompleted(queue, kind string) {
	if m == nil {
		return
	}
	m.callbacks.completed.WithLabelValues(orDefault(queue, "unknown"), callbackKind(kind)).Inc()
}

// CallbackFailed counts a callback given up; reason is one of the
// CallbackFail constants (anything else counts as attempts).
func (m *Metrics) CallbackFailed(queue, kind, reason string) {
	if m == nil {
		return
	}
	if !callbackFailReasons[reason] {
		reason = CallbackFailAttempts
	}
	m.callbacks.failed.WithLabelValues(orDefault(queue, "unknown"), callbackKind(kind), reason).Inc()
}
