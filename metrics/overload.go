package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// overloadReasons are the reason label's values (sip/overload.Reasons).
func overloadReasons() []string {
	return []string{"scheduling_lag", "socket_backlog", "cpu", "recorder_drops", "pressure", "setups", "socket_delay", "machine_cpu", "max_cps", "rtp_delay", "records_held", "spool_free"}
}

// overloadMetrics are the overload control's figures (sip/overload).
type overloadMetrics struct {
	refused    *prometheus.CounterVec
	saturation prometheus.Gauge
	shedding   prometheus.Gauge
	share      prometheus.Gauge
	maxCPS     prometheus.Gauge
	learned    prometheus.Gauge
	refusal    prometheus.Histogram
	answer     prometheus.Histogram
	sockWait   *prometheus.HistogramVec
}

func newOverloadMetrics(reg prometheus.Registerer) *overloadMetrics {
	o := &overloadMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameCallsRefused,
			Help: "New calls refused at once with 503 and Retry-After because Hotline was overloaded, by the signal that was over its threshold (scheduling_lag, socket_backlog, cpu, recorder_drops, pressure, setups: too many calls being set up at once, socket_delay: the INVITE waited too long in the SIP socket, machine_cpu: the machine's CPUs were busy, much of it with Hotline's own work, max_cps: sip.overload.max_cps new calls were admitted in the last second, rtp_delay: the RTP packets Hotline read had all waited sip.overload.rtp_delay in its media sockets). A call refused past the rate learned from an overload (sip.overload.learn) counts under that overload's reason."},
			[]string{lReason}),
		saturation: prometheus.NewGauge(prometheus.GaugeOpts{Name: NameOverloadSaturation,
			Help: "The overload signal furthest towards its threshold, as a share of it (1: at the threshold), at the last sample; the calls being set up count against sip.overload.max_setups, and the new calls refused in the sample for a queue (socket_delay, max_setups) against sip.overload.queue_refused."}),
		shedding: prometheus.NewGauge(prometheus.GaugeOpts{Name: NameOverloadShedding,
			Help: "1 while new calls are refused because Hotline is overloaded, else 0."}),
		share: prometheus.NewGauge(prometheus.GaugeOpts{Name: NameOverloadRefusedShare,
			Help: "The share of new calls refused at random while Hotline sheds (0-1; sip.overload.cut: half at first, more while a signal stays over its threshold, less over the release ramp), at the last sample; 0 when not shedding. Calls refused by max_setups or socket_delay are judged apart."}),
		maxCPS: prometheus.NewGauge(prometheus.GaugeOpts{Name: NameOverloadMaxCPS,
			Help: "The bound on new calls admitted a second in force (sip.overload.max_cps, applied at start and by each configuration reload); 0: no bound."}),
		learned: prometheus.NewGauge(prometheus.GaugeOpts{Name: NameOverloadLearnedCPS,
			Help: "The rate of new calls a second Hotline learned from its last overload and admits no more than until the overload is over (sip.overload.learn), at the last sample; 0: none."}),
		refusal: prometheus.NewHistogram(prometheus.HistogramOpts{Name: NameRefusalTime,
			Help:    "Time from a refused INVITE's arrival in Hotline's SIP UDP socket (the kernel's stamp) to the 503 the overload door sent for it: the part of a caller's wait for the refusal that Hotline causes.",
			Buckets: RefusalBuckets}),
		answer: prometheus.NewHistogram(prometheus.HistogramOpts{Name: NameAnswerDelay,
			Help:    "Time Hotline itself took to answer a caller whom an agent took directly (not answered first to wait in the queue): from the INVITE's handler to the caller's 200 OK, less the time the agent's phone took to answer Hotline's INVITE. The part of the caller's post-dial delay that is Hotline's (the wait in its SIP socket is not included: hotline_overload_saturation and the socket_delay signal cover it).",
			Buckets: RefusalBuckets}),
		sockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameSIPSocketWait,
			Help:    "Time SIP datagrams waited in Hotline's UDP sockets before Hotline read them (the kernel's arrival stamp to the read), every datagram: requests and responses, new calls and calls in progress. The part of a caller's or an agent phone's wait that passes before Hotline even sees the message. socket: invites (new INVITEs' own socket, sip.overload.invite_socket), others (every other datagram beside it) or shared (one socket for all).",
			Buckets: RefusalBuckets}, []string{"socket"}),
	}
	for _, r := range overloadReasons() {
		o.refused.WithLabelValues(r) // exposed at 0 from the start
	}
	for _, s := range []string{SocketInvites, SocketOthers, SocketShared} {
		o.sockWait.WithLabelValues(s)
	}
	reg.MustRegister(o.refused, o.saturation, o.shedding, o.share, o.maxCPS, o.learned, o.refusal, o.answer, o.sockWait)
	return o
}

// CallRefused counts a new call refused because of overload; reason is
// one of the fixed signal names (anything else counts as "other").
func (m *Metrics) CallRefused(reason string) {
	if m == nil {
		return
	}
	known := false
	for _, r := range overloadReasons() {
		known = known || r == reason
	}
	if !known {
		reason = "other"
	}
	m.overload.refused.WithLabelValues(reason).Inc()
}

// Overload records the overload detector's last sample: the saturation
// (1 at a threshold), whether new calls are refused, and which share of
// them.
func (m *Metrics) Overload(saturation float64, shedding bool, share float64) {
	if m == nil {
		return
	}
	m.overload.saturation.Set(saturation)
	m.overload.share.Set(share)
	if shedding {
		m.overload.shedding.Set(1)
	} else {
		m.overload.shedding.Set(0)
	}
}

// OverloadLearned records the rate learned from the last overload
// (sip.overload.learn; 0: none).
func (m *Metrics) OverloadLearned(rate float64) {
	if m == nil {
		return
	}
	m.overload.learned.Set(rate)
}

// OverloadMaxCPS records the bound on new calls a second in force
// (sip.overload.max_cps; 0: none).
func (m *Metrics) OverloadMaxCPS(rate float64) {
	if m == nil {
		return
	}
	m.overload.maxCPS.Set(rate)
}

// RefusedAfter observes how long after its INVITE reached the SIP socket
// a refused call got its 503.
func (m *Metrics) RefusedAfter(d time.Duration) {
	if m == nil {
		return
	}
	m.overload.refusal.Observe(d.Seconds())
}

// AnswerDelay observes the time Hotline itself took to answer a caller
// an agent took directly (NameAnswerDelay).
func (m *Metrics) AnswerDelay(d time.Duration) {
	if m == nil {
		return
	}
	m.overload.answer.Observe(max(d, 0).Seconds())
}

// The sockets of NameSIPSocketWait.
const (
	SocketInvites = "invites" // new INVITEs' own socket
	SocketOthers  = "others"  // every other datagram, beside it
	SocketShared  = "shared"  // one socket for all
)

// SIPSocketWait returns what observes how long a SIP datagram waited in
// a UDP socket (SocketInvites, SocketOthers or SocketShared) before
// Hotline read it (NameSIPSocketWait): the series is looked up once, not
// per datagram.
func (m *Metrics) SIPSocketWait(socket string) func(time.Duration) {
	if m == nil {
		return func(time.Duration) {}
	}
	o := m.overload.sockWait.WithLabelValues(socket)
	return func(d time.Duration) { o.Observe(max(d, 0).Seconds()) }
}
