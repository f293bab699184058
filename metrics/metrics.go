package metrics

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// DefaultServiceLevelThreshold is the service-level threshold of a queue
// when Options.ServiceLevel does not say otherwise (the classic 80/20:
// 80% of calls answered within 20 seconds).
const DefaultServiceLevelThreshold = 20 * time.Second

// DefaultServiceLevelTarget is the share of calls a queue should answer
// within its threshold (80 of the classic 80/20), exposed as
// hotline_queue_service_level_target_ratio for the service-level alert.
const DefaultServiceLevelTarget = 0.8

// Bucket boundaries.
var (
	// WaitBuckets are the queue-wait histogram buckets in seconds; 20 s is
	// the default service-level threshold.
	WaitBuckets = []float64{5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600}
	// HandleBuckets are the handle-time histogram buckets in seconds.
	HandleBuckets = []float64{30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600}
	// UploadBuckets are the recording upload duration buckets in seconds.
	UploadBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	// RefusalBuckets are the buckets of the time to a refused call's 503,
	// in seconds (the target is 10 ms).
	RefusalBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	// CSATBuckets are the CSAT histogram buckets: one per score, so
	// le="3" counts the unsatisfied (1-3) and the rest are satisfied.
	CSATBuckets = []float64{1, 2, 3, 4, 5}
	// NPSBuckets split NPS answers: le="6" detractors (0-6), le="8"
	// detractors and passives (0-8); the rest (9-10) are promoters.
	NPSBuckets = []float64{6, 8, 10}
)

// Outcome is how a call left the queue.
type Outcome string

// Queue outcomes.
const (
	OutcomeAnswered  Outcome = "answered"  // an agent answered
	OutcomeAbandoned Outcome = "abandoned" // the caller hung up while waiting
	OutcomeCallback  Outcome = "callback"  // the caller chose to be called back
	OutcomeOverflow  Outcome = "overflow"  // sent on to another queue or destination
	OutcomeTimeout   Outcome = "timeout"   // the maximum wait passed
)

// Question is a survey question.
type Question string

// Survey questions.
const (
	QuestionCSAT Question = "csat"
	QuestionNPS  Question = "nps"
)

// Direction is the direction of SIP messages or RTP packets as seen by
// Hotline.
type Direction string

// Directions.
const (
	In  Direction = "in"  // received by Hotline
	Out Direction = "out" // sent by Hotline
)

// Registration outcomes for Metrics.Registration.
const (
	RegistrationSuccess    = "success"    // a binding was added or refreshed
	RegistrationChallenged = "challenged" // 401 with a digest challenge
	RegistrationRejected   = "rejected"   // 403, 423 or another refusal
	RegistrationRemoved    = "removed"    // un-REGISTER or expiry
)

// Agent no-answer reasons for Metrics.AgentNoAnswer.
const (
	NoAnswerTimeout     = "timeout"     // rang for the whole ring timeout
	NoAnswerBusy        = "busy"        // 486
	NoAnswerDeclined    = "declined"    // 603
	NoAnswerUnreachable = "unreachable" // not registered or no response
	NoAnswerError       = "error"       // any other failure
)

// Call describes one call to the metrics: the bounded labels and the call
// id, which only ever goes into exemplars.
type Call struct {
	// ID is the caller's Call-ID; it is attached to observations as the
	// exemplar label call_id, never as a metric label.
	ID string
	// Queue is the queue (or hotline number) the call waited in.
	Queue string
	// Segment is the customer segment (loyal, potential, ...); empty
	// means "unknown".
	Segment string
	// Reason is why the customer called (an IVR choice); empty is "none".
	Reason string
	// Arrived is when the call reached the hotline. Hour of day and
	// weekday labels are taken from it, in the hotline's time zone.
	// When zero, the time of the observation is used.
	Arrived time.Time
}

// Options configure a Metrics.
type Options struct {
	// Location is the hotline's time zone for hour and weekday labels;
	// UTC when nil.
	Location *time.Location
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ServiceLevel returns a queue's service-level threshold (answered
	// within it counts towards the service level); nil means
	// DefaultServiceLevelThreshold for every queue.
	ServiceLevel func(queue string) time.Duration
	// ServiceLevelTarget returns a queue's service-level target (0-1);
	// nil means DefaultServiceLevelTarget for every queue.
	ServiceLevelTarget func(queue string) float64
	// Version is Hotline's version for hotline_build_info.
	Version string
	// Log receives errors from serving /metrics.
	Log *slog.Logger
	// NoRuntimeMetrics leaves out the go_* and process_* metrics.
	NoRuntimeMetrics bool
}

// Metrics holds Hotline's Prometheus metrics in their own registry. All
// methods are safe for concurrent use; a nil *Metrics records nothing, so
// code can call it unconditionally.
type Metrics struct {
	reg  *prometheus.Registry
	loc  *time.Location
	now  func() time.Time
	sl   func(queue string) time.Duration
	slt  func(queue string) float64
	log  *slog.Logger
	srcs *sources

	offered      *prometheus.CounterVec
	queueCalls   *prometheus.CounterVec
	wait         *prometheus.HistogramVec
	waitByHour   *prometheus.HistogramVec
	withinSL     *prometheus.CounterVec
	slThreshold  *prometheus.GaugeVec
	slTarget     *prometheus.GaugeVec
	reloadOK     prometheus.Gauge
	reloadTime   prometheus.Gauge
	handle       *prometheus.HistogramVec
	csat         *prometheus.HistogramVec
	csatByWait   *prometheus.HistogramVec
	nps          *prometheus.HistogramVec
	noResponse   *prometheus.CounterVec
	noAnswers    *prometheus.CounterVec
	logins       prometheus.Counter
	logouts      prometheus.Counter
	sipRequests  *prometheus.CounterVec
	sipResponses *prometheus.CounterVec
	regs         *prometheus.CounterVec
	uploadTime   prometheus.Histogram
	crmFailures  *prometheus.CounterVec
	callbacks    *callbackMetrics
	overload     *overloadMetrics
	transfers    *transferMetrics
	keypadGone   *prometheus.CounterVec
	emptyAway    *prometheus.CounterVec
	dispositions *prometheus.CounterVec
	agentView    *agentView
}

// Label names.
const (
	lQueue     = "queue"
	lSegment   = "segment"
	lReason    = "reason"
	lOutcome   = "outcome"
	lHour      = "hour"
	lWeekday   = "weekday"
	lWait      = "wait"
	lSurvey    = "survey"
	lState     = "state"
	lMethod    = "method"
	lStatus    = "status_class"
	lAgent     = "agent"
	lWhen      = "when"
	lCode      = "code"
	lDirection = "direction"
)

// ExemplarLabel is the exemplar label holding the call id.
const ExemplarLabel = "call_id"

// New builds the metrics and registers them in a new registry.
func New(o Options) *Metrics {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ServiceLevel == nil {
		o.ServiceLevel = func(string) time.Duration { return DefaultServiceLevelThreshold }
	}
	if o.ServiceLevelTarget == nil {
		o.ServiceLevelTarget = func(string) float64 { return DefaultServiceLevelTarget }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		loc:  o.Location,
		now:  o.Now,
		sl:   o.ServiceLevel,
		slt:  o.ServiceLevelTarget,
		log:  o.Log,
		srcs: &sources{},
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	timeLabels := []string{lQueue, lSegment, lReason, lHour, lWeekday}

	m.offered = counter(NameCallsOffered, "Calls offered to a queue (entered it).", lQueue, lSegment)
	m.emptyAway = counter(NameQueueEmptyTurnedAway, "Callers a queue nobody takes calls in turned away (queues[].when_empty), when arriving (join) or waiting (leave).", lQueue, lWhen)
	m.dispositions = counter(NameDispositions, "Wrap-up codes agents gave their calls (dispositions), by queue and code.", lQueue, lCode)
	m.keypadGone = counter(NameKeypadAbandoned, "Callers who hung up during the keypad questions (service style, reason menu), before reaching the queue they were routed to.", lQueue, lSegment)
	m.queueCalls = counter(NameQueueCalls, "Calls that left the queue, by outcome (answered, abandoned, callback, overflow, timeout).", lQueue, lSegment, lOutcome)
	m.wait = hist(NameQueueWait, "Time callers waited in the queue (first response time for answered calls), by outcome.", WaitBuckets, lQueue, lSegment, lOutcome)
	m.waitByHour = hist(NameQueueWaitByHour, "Time callers waited in the queue, all outcomes, by hour of day and weekday of arrival in the hotline's time zone.", WaitBuckets, lQueue, lHour, lWeekday)
	m.withinSL = counter(NameAnsweredWithinSL, "Calls answered within the queue's service-level threshold.", lQueue, lSegment)
	m.slThreshold = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: NameServiceLevelThreshold, Help: "The queue's service-level threshold."}, []string{lQueue})
	m.slTarget = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: NameServiceLevelTarget, Help: "The share of calls the queue should answer within its service-level threshold."}, []string{lQueue})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameConfigReloadOK, Help: "1 when the last configuration reload (SIGHUP or file change) succeeded, 0 when the new file was refused and the previous configuration kept."})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameConfigReloadTime, Help: "When the configuration was last loaded successfully (start or reload), Unix seconds."})
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(o.Now().UnixNano()) / 1e9)
	m.handle = hist(NameHandleTime, "Handle time of answered calls: talk plus after-call work.", HandleBuckets, lQueue, lSegment)
	m.csat = hist(NameCSAT, "Post-call CSAT ratings (1-5), by hour of day and weekday of the call in the hotline's time zone; 4 and 5 are satisfied.", CSATBuckets, timeLabels...)
	m.csatByWait = hist(NameCSATByWait, "Post-call CSAT ratings (1-5) by how long the caller waited (wait band).", CSATBuckets, lQueue, lSegment, lWait)
	m.nps = hist(NameNPS, "Post-call NPS answers (0-10), by hour of day and weekday of the call in the hotline's time zone; 0-6 detractors, 9-10 promoters.", NPSBuckets, timeLabels...)
	m.noResponse = counter(NameSurveyNoResponse, "Survey questions the caller did not answer (hung up or timed out).", append(timeLabels, lSurvey)...)
	m.noAnswers = counter(NameAgentNoAnswers, "Offers an agent did not take, by reason (timeout, busy, declined, unreachable, error).", lQueue, lReason)
	m.logins = prometheus.NewCounter(prometheus.CounterOpts{Name: NameAgentLogins, Help: "Agents logging in (first phone registered)."})
	m.logouts = prometheus.NewCounter(prometheus.CounterOpts{Name: NameAgentLogouts, Help: "Agents logging out (last phone unregistered or expired)."})
	m.sipRequests = counter(NameSIPRequests, "SIP requests by method and direction.", lMethod, lDirection)
	m.sipResponses = counter(NameSIPResponses, "SIP responses by method, status class (1xx-6xx) and direction.", lMethod, lStatus, lDirection)
	m.regs = counter(NameSIPRegistrations, "REGISTER requests by outcome (success, challenged, rejected, removed).", lOutcome)
	m.uploadTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: NameRecordingUploadTime, Help: "Time to store one recording (successful uploads).", Buckets: UploadBuckets})

	m.reg.MustRegister(m.offered, m.keypadGone, m.emptyAway, m.dispositions, m.queueCalls, m.wait, m.waitByHour, m.withinSL, m.slThreshold, m.slTarget, m.reloadOK, m.reloadTime, m.handle,
		m.csat, m.csatByWait, m.nps, m.noResponse, m.noAnswers, m.logins, m.logouts,
		m.sipRequests, m.sipResponses, m.regs, m.uploadTime,
		newCallbackCollector(m.srcs), buildInfo(o.Version))
	m.crmFailures = newCRMFailures(m.reg)
	m.callbacks = newCallbackMetrics(m.reg)
	m.overload = newOverloadMetrics(m.reg)
	m.transfers = newTransferMetrics(m.reg)
	m.agentView = newAgentView(m.reg)
	if !o.NoRuntimeMetrics {
		// The scheduler's own figures besides the defaults: how long
		// runnable goroutines (a SIP request's handler among them) waited
		// for a core (go_sched_latencies_seconds) and how many wait now
		// (go_sched_goroutines_runnable_goroutines). Overload shows there
		// first; the runtime keeps them anyway, so a scrape reads them for
		// a few microseconds.
		m.reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry the metrics are in (for tests and for
// registering more collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Location is the time zone of hour and weekday labels.
func (m *Metrics) Location() *time.Location { return m.loc }

func buildInfo(version string) prometheus.Collector {
	if version == "" {
		version = "dev"
	}
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        NameBuildInfo,
		Help:        "Hotline's build: always 1, the labels say which.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// weekdays are the weekday label values, indexed by time.Weekday.
var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// hours are the hour label values "0".."23".
var hours = func() (h [24]string) {
	for i := range h {
		h[i] = strconv.Itoa(i)
	}
	return h
}()

// when returns the hour and weekday labels of t in the hotline's zone.
func (m *Metrics) when(t time.Time) (hour, weekday string) {
	if t.IsZero() {
		t = m.now()
	}
	t = t.In(m.loc)
	return hours[t.Hour()], weekdays[t.Weekday()]
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (c Call) labels() (queue, segment, reason string) {
	return orDefault(c.Queue, "unknown"), orDefault(c.Segment, "unknown"), orDefault(c.Reason, "none")
}

// exemplar returns the exemplar labels for a call id, or nil (no
// exemplar) when there is none. The value is cut to fit the 128-rune
// limit and made valid UTF-8, so observing never panics.
func exemplar(callID string) prometheus.Labels {
	if callID == "" {
		return nil
	}
	const max = prometheus.ExemplarMaxRunes - len(ExemplarLabel)
	if !utf8.ValidString(callID) {
		callID = strings.ToValidUTF8(callID, "?")
	}
	if utf8.RuneCountInString(callID) > max {
		r := []rune(callID)
		callID = string(r[:max])
	}
	return prometheus.Labels{ExemplarLabel: callID}
}

func observe(o prometheus.Observer, v float64, callID string) {
	if e := exemplar(callID); e != nil {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, e)
			return
		}
	}
	o.Observe(v)
}

func inc(c prometheus.Counter, callID string) {
	if e := exemplar(callID); e != nil {
		if ea, ok := c.(prometheus.ExemplarAdder); ok {
			ea.AddWithExemplar(1, e)
			return
		}
	}
	c.Inc()
}

// KeypadAbandoned counts a caller who hung up during the keypad questions,
// before entering the queue (they are not offered: CallOffered is not
// called for them).
func (m *Metrics) KeypadAbandoned(c Call) {
	if m == nil {
		return
	}
	q, seg, _ := c.labels()
	inc(m.keypadGone.WithLabelValues(q, seg), c.ID)
}

// Disposition counts a wrap-up code given to a call of queue (codes are
// configured, so the label is bounded).
func (m *Metrics) Disposition(callID, queue, code string) {
	if m == nil {
		return
	}
	inc(m.dispositions.WithLabelValues(orDefault(queue, "unknown"), code), callID)
}

// QueueEmpty counts a caller an empty queue turned away; when is "join"
// (arriving) or "leave" (waiting when the last agent left).
func (m *Metrics) QueueEmpty(c Call, when string) {
	if m == nil {
		return
	}
	q, _, _ := c.labels()
	inc(m.emptyAway.WithLabelValues(q, when), c.ID)
}

// CallOffered counts a call entering a queue.
func (m *Metrics) CallOffered(c Call) {
	if m == nil {
		return
	}
	q, seg, _ := c.labels()
	inc(m.offered.WithLabelValues(q, seg), c.ID)
	m.slThreshold.WithLabelValues(q).Set(m.sl(q).Seconds())
	m.slTarget.WithLabelValues(q).Set(m.slt(q))
	// Create the queue's outcome series at zero now, so Prometheus sees
	// them before their first increment (rate and increase miss the
	// first increment of a series that appears already at 1).
	m.withinSL.WithLabelValues(q, seg)
	for _, o := range outcomes {
		m.queueCalls.WithLabelValues(q, seg, string(o))
		m.wait.WithLabelValues(q, seg, string(o))
	}
}

// outcomes are the queue outcomes, in a fixed order.
var outcomes = [...]Outcome{OutcomeAnswered, OutcomeAbandoned, OutcomeCallback, OutcomeOverflow, OutcomeTimeout}

// QueueWait records a call leaving the queue after waiting wait: the wait
// histograms (with the call id as exemplar), the outcome counter and, for
// answered calls, whether it was answered within the service level.
// Every offered call should end here exactly once, answered at once
// (wait near zero) included.
func (m *Metrics) QueueWait(c Call, outcome Outcome, wait time.Duration) {
	if m == nil {
		return
	}
	q, seg, _ := c.labels()
	out := string(outcome)
	switch outcome {
	case OutcomeAnswered, OutcomeAbandoned, OutcomeCallback, OutcomeOverflow, OutcomeTimeout:
	default:
		out = "other"
	}
	if wait < 0 {
		wait = 0
	}
	at := c.Arrived
	if at.IsZero() {
		at = m.now().Add(-wait)
	}
	hour, wd := m.when(at)
	inc(m.queueCalls.WithLabelValues(q, seg, out), c.ID)
	observe(m.wait.WithLabelValues(q, seg, out), wait.Seconds(), c.ID)
	observe(m.waitByHour.WithLabelValues(q, hour, wd), wait.Seconds(), c.ID)
	if outcome == OutcomeAnswered && wait <= m.sl(q) {
		inc(m.withinSL.WithLabelValues(q, seg), c.ID)
	}
}

// HandleTime records an answered call's handle time: talk time plus
// after-call work (wrap-up).
func (m *Metrics) HandleTime(c Call, talk, wrapUp time.Duration) {
	if m == nil {
		return
	}
	q, seg, _ := c.labels()
	observe(m.handle.WithLabelValues(q, seg), (talk + wrapUp).Seconds(), c.ID)
}

// waitBand is the wait label of hotline_csat_score_by_wait.
func waitBand(d time.Duration) string {
	switch {
	case d < 30*time.Second:
		return "0-30s"
	case d < time.Minute:
		return "30-60s"
	case d < 2*time.Minute:
		return "1-2m"
	case d < 5*time.Minute:
		return "2-5m"
	case d < 10*time.Minute:
		return "5-10m"
	default:
		return "10m+"
	}
}

// WaitBands are the values of the wait label of hotline_csat_score_by_wait,
// shortest first.
var WaitBands = []string{"0-30s", "30-60s", "1-2m", "2-5m", "5-10m", "10m+"}

// CSAT records a CSAT rating (1-5) for a call whose caller waited wait.
// Ratings out of range are ignored and reported false.
func (m *Metrics) CSAT(c Call, wait time.Duration, score int) bool {
	if m == nil || score < 1 || score > 5 {
		return false
	}
	q, seg, reason := c.labels()
	hour, wd := m.when(c.Arrived)
	observe(m.csat.WithLabelValues(q, seg, reason, hour, wd), float64(score), c.ID)
	observe(m.csatByWait.WithLabelValues(q, seg, waitBand(wait)), float64(score), c.ID)
	return true
}

// NPS records an NPS answer (0-10). Answers out of range are ignored and
// reported false.
func (m *Metrics) NPS(c Call, score int) bool {
	if m == nil || score < 0 || score > 10 {
		return false
	}
	q, seg, reason := c.labels()
	hour, wd := m.when(c.Arrived)
	observe(m.nps.WithLabelValues(q, seg, reason, hour, wd), float64(score), c.ID)
	return true
}

// SurveyNoResponse counts a survey question left unanswered (the caller
// hung up or let it time out): a non-response, never a score.
func (m *Metrics) SurveyNoResponse(c Call, question Question) {
	if m == nil {
		return
	}
	q, seg, reason := c.labels()
	hour, wd := m.when(c.Arrived)
	sv := string(question)
	if question != QuestionCSAT && question != QuestionNPS {
		sv = "other"
	}
	inc(m.noResponse.WithLabelValues(q, seg, reason, hour, wd, sv), c.ID)
}

var noAnswerReasons = map[string]bool{NoAnswerTimeout: true, NoAnswerBusy: true, NoAnswerDeclined: true, NoAnswerUnreachable: true, NoAnswerError: true}

// AgentNoAnswer counts an offer an agent did not take; reason is one of
// the NoAnswer constants (anything else counts as "error").
func (m *Metrics) AgentNoAnswer(queue, reason string) {
	if m == nil {
		return
	}
	if !noAnswerReasons[reason] {
		reason = NoAnswerError
	}
	m.noAnswers.WithLabelValues(orDefault(queue, "unknown"), reason).Inc()
}

// AgentLogin counts an agent logging in (their first phone registered).
func (m *Metrics) AgentLogin() {
	if m != nil {
		m.logins.Inc()
	}
}

// AgentLogout counts an agent logging out (their last phone gone).
func (m *Metrics) AgentLogout() {
	if m != nil {
		m.logouts.Inc()
	}
}

// sipMethods are the method label values; any other method is "other".
var sipMethods = map[string]bool{
	"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true, "REGISTER": true, "OPTIONS": true, "INFO": true,
	"UPDATE": true, "PRACK": true, "SUBSCRIBE": true, "NOTIFY": true, "REFER": true, "MESSAGE": true, "PUBLISH": true,
}

func sipMethod(method string) string {
	if sipMethods[method] {
		return method
	}
	if u := strings.ToUpper(method); sipMethods[u] {
		return u
	}
	return "other"
}

var statusClasses = [7]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx"}

// SIPRequest counts a SIP request sent (Out) or received (In).
func (m *Metrics) SIPRequest(dir Direction, method string) {
	if m == nil {
		return
	}
	m.sipRequests.WithLabelValues(sipMethod(method), direction(dir)).Inc()
}

// SIPResponse counts a SIP response sent (Out) or received (In) to a
// request of method, by status class.
func (m *Metrics) SIPResponse(dir Direction, method string, code int) {
	if m == nil {
		return
	}
	class := statusClasses[0]
	if code >= 100 && code < 700 {
		class = statusClasses[code/100]
	}
	m.sipResponses.WithLabelValues(sipMethod(method), class, direction(dir)).Inc()
}

func direction(d Direction) string {
	if d == Out {
		return string(Out)
	}
	return string(In)
}

var registrationOutcomes = map[string]bool{RegistrationSuccess: true, RegistrationChallenged: true, RegistrationRejected: true, RegistrationRemoved: true}

// Registration counts a REGISTER by outcome (the Registration constants;
// anything else counts as rejected).
func (m *Metrics) Registration(outcome string) {
	if m == nil {
		return
	}
	if !registrationOutcomes[outcome] {
		outcome = RegistrationRejected
	}
	m.regs.WithLabelValues(outcome).Inc()
}

// RecordingUploaded records how long one successful upload took.
// Failures are counted from the Backlog source.
func (m *Metrics) RecordingUploaded(d time.Duration) {
	if m != nil {
		m.uploadTime.Observe(d.Seconds())
	}
}

// errorLogger adapts slog to promhttp's logger.
type errorLogger struct{ log *slog.Logger }

func (l errorLogger) Println(v ...any) {
	var b strings.Builder
	for i, x := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(toString(x))
	}
	l.log.Error("serving metrics", "error", b.String())
}

func toString(x any) string {
	switch v := x.(type) {
	case string:
		return v
	case error:
		return v.Error()
	default:
		return strings.TrimSpace(strings.ReplaceAll(slog.AnyValue(v).String(), "\n", " "))
	}
}

// sources are the callbacks the metrics read at scrape time.
type sources struct {
	mu          sync.Mutex
	queues      func() []QueueStatus
	agents      func() []AgentCount
	activeCalls func() int
	registered  func() int
	rtp         func() []RTPStats
	rtpKernel   func() (RTPKernel, bool)
	backlog     func() Backlog
	records     func() Records

	rtpEnded RTPStats   // totals of legs that have ended
	rtpLast  [7]float64 // last counter values exposed, to keep them monotonic
}

// ConfigReloaded records the outcome of a configuration reload: a refused
// file sets hotline_config_last_reload_successful to 0 (an alert watches
// it) until a reload succeeds.
func (m *Metrics) ConfigReloaded(ok bool) {
	if m == nil {
		return
	}
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(m.now().UnixNano()) / 1e9)
}
