package metrics

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStatus is the live state of one queue, read at scrape time.
type QueueStatus struct {
	Queue string
	// Waiting is the number of callers waiting now.
	Waiting int
	// LongestWait is how long the caller waiting longest has waited (0
	// when nobody waits).
	LongestWait time.Duration
	// Open says whether the queue is within its staffed hours now (for
	// the "no agent logged in during open hours" alert).
	Open bool
	// Lost counts the queue's calls ended because the node they were on
	// died (several nodes), since the cluster started: the shared ACD's
	// count, so every node reports the same (monotonic while the cluster
	// lives).
	Lost int
}

// AgentCount is how many agents of a queue are in one state.
type AgentCount struct {
	Queue string
	// State is the agent state, one of AgentStates (the API's words).
	State string
	Count int
}

// AgentStates are states always exposed for every queue an agent source
// reports (zero when no agent is in them), so "no agent available" is a
// 0, not a missing series.
// The API names agents' states with the same words.
var AgentStates = []string{"logged_out", "available", "ringing", "on_call", "wrap_up", "paused"}

// RTPStats are the counters of one RTP leg (see media.Stats). "In" is
// what Hotline received from the peer, "Out" what it sent.
type RTPStats struct {
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64
	// LostIn are packets missing by sequence number on receipt; LostOut
	// what the peer reports lost (RTCP), 0 when unknown.
	LostIn, LostOut uint64
	// Dropped are received packets discarded (not RTP, wrong source, ...).
	Dropped uint64
	// JitterIn is the interarrival jitter of received packets (RFC 3550);
	// JitterOut what the peer reports (RTCP); 0 when unknown.
	JitterIn, JitterOut time.Duration
}

func (s *RTPStats) add(o RTPStats) {
	s.PacketsIn += o.PacketsIn
	s.PacketsOut += o.PacketsOut
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	s.LostIn += o.LostIn
	s.LostOut += o.LostOut
	s.Dropped += o.Dropped
}

// Backlog is the recording upload queue (see recording.Backlog).
type Backlog struct {
	Files     int           // finished recordings waiting in the spool
	Bytes     int64         // their size
	OldestAge time.Duration // how long the oldest has waited
	Recording int           // recordings in progress
	Failures  uint64        // failed upload attempts since start (monotonic)
	Uploaded  uint64        // recordings stored since start (monotonic)
	Dropped   uint64        // RTP packets recorders dropped since start (monotonic)
	// SpoolFree and SpoolSize are the free space (for unprivileged users)
	// and the size of the spool's file system; 0 when unknown.
	SpoolFree, SpoolSize uint64
}

// Records is the call-records store's health (see records.Stats).
type Records struct {
	Written uint64 // records the backend stored since start (monotonic)
	Spooled uint64 // records spooled because the backend refused them, since start (monotonic)
	// SpoolBatches is the number of batches waiting in the spool for
	// the backend.
	SpoolBatches int
	// BackendDown is true while the backend refuses writes.
	BackendDown bool
	// Held is how many records neither the backend nor the spool took
	// at the last flush: kept in memory, lost if the process ends.
	Held int
}

// SetQueueSource sets the callback giving the live state of each queue
// (callers waiting, longest wait, open); the ACD provides it.
func (m *Metrics) SetQueueSource(f func() []QueueStatus) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.queues = f
		m.srcs.mu.Unlock()
	}
}

// SetAgentSource sets the callback counting agents by queue and state.
func (m *Metrics) SetAgentSource(f func() []AgentCount) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.agents = f
		m.srcs.mu.Unlock()
	}
}

// SetActiveCallsSource sets the callback giving the calls in progress.
func (m *Metrics) SetActiveCallsSource(f func() int) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.activeCalls = f
		m.srcs.mu.Unlock()
	}
}

// SetRegistrationSource sets the callback giving the number of registered
// contacts (agents' phones).
func (m *Metrics) SetRegistrationSource(f func() int) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.registered = f
		m.srcs.mu.Unlock()
	}
}

// SetRTPSource sets the callback listing the stats of every live RTP leg.
// When a leg ends, pass its final stats to RTPLegEnded so the counters
// keep them.
func (m *Metrics) SetRTPSource(f func() []RTPStats) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.rtp = f
		m.srcs.mu.Unlock()
	}
}

// RTPLegEnded adds the final stats of a leg that ended (and is no longer
// listed by the RTP source) to the RTP counters.
func (m *Metrics) RTPLegEnded(s RTPStats) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.rtpEnded.add(s)
		m.srcs.mu.Unlock()
	}
}

// RTPKernel are the in-kernel relay's counters (rtp.kernel).
type RTPKernel struct {
	// Relayed is the packets relayed in the kernel.
	Relayed uint64
	// RingFull is the packets of those it relayed without the
	// recorders' copy, as the ring buffer to them was full; TooLong the
	// packets it left to the user-space relay as longer than a ring
	// record.
	RingFull, TooLong uint64
}

// SetRTPKernelSource sets the callback giving the in-kernel relay's
// counters; ok false (relay off) exposes none.
func (m *Metrics) SetRTPKernelSource(f func() (RTPKernel, bool)) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.rtpKernel = f
		m.srcs.mu.Unlock()
	}
}

// SetBacklogSource sets the callback giving the recording upload backlog.
func (m *Metrics) SetBacklogSource(f func() Backlog) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.backlog = f
		m.srcs.mu.Unlock()
	}
}

// SetRecordsSource sets the callback giving the call-records store's
// health (written, spooled, batches in the spool, backend up, held).
func (m *Metrics) SetRecordsSource(f func() Records) {
	if m != nil {
		m.srcs.mu.Lock()
		m.srcs.records = f
		m.srcs.mu.Unlock()
	}
}

// callbackCollector exposes what the sources report at scrape time.
type callbackCollector struct {
	s *sources

	waiting, longest, open, agents, active, registered *prometheus.Desc
	lostCalls                                          *prometheus.Desc
	legs, packets, bytes, lost, dropped, jMean, jMax   *prometheus.Desc
	kernel                                             *prometheus.Desc
	bFiles, bBytes, bOldest, bRecording                *prometheus.Desc
	bUploaded, bFailures, bDropped                     *prometheus.Desc
	spoolFree, spoolSize                               *prometheus.Desc
	rWritten, rSpooled, rBatches, rUp, rHeld           *prometheus.Desc
}

func newCallbackCollector(s *sources) *callbackCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &callbackCollector{
		s:          s,
		waiting:    d(NameCallersWaiting, "Callers waiting in the queue now.", lQueue),
		longest:    d(NameLongestWait, "How long the caller waiting longest has waited so far.", lQueue),
		open:       d(NameQueueOpen, "1 while the queue is within its staffed hours, else 0.", lQueue),
		lostCalls:  d(NameCallsLost, "Calls ended because the node they were on died (several nodes; from the shared ACD, so every node reports the hotline's count).", lQueue),
		agents:     d(NameAgents, "Agents by queue and state.", lQueue, lState),
		active:     d(NameCallsActive, "Calls in progress."),
		registered: d(NameSIPRegistered, "Registered contacts (agents' phones)."),
		legs:       d(NameRTPLegs, "Live RTP legs."),
		packets:    d(NameRTPPackets, "RTP packets received (in) and sent (out).", lDirection),
		bytes:      d(NameRTPBytes, "RTP bytes (header included) received (in) and sent (out).", lDirection),
		lost:       d(NameRTPLost, "RTP packets lost: missing on receipt (in), reported lost by peers (out).", lDirection),
		dropped:    d(NameRTPDropped, "Received packets discarded (not RTP, unknown payload type, wrong source)."),
		jMean:      d(NameRTPJitterMean, "Mean interarrival jitter over live legs that report it.", lDirection),
		jMax:       d(NameRTPJitterMax, "Largest interarrival jitter of a live leg.", lDirection),
		kernel:     d(NameRTPKernel, "RTP packets the in-kernel relay (rtp.kernel) relayed (relayed), relayed without the recorders' copy because its ring buffer to them was full (ring_full, also in relayed), or left to the user-space relay as too long (too_long).", "result"),
		bFiles:     d(NameRecordingBacklogFiles, "Finished recordings waiting in the spool for upload."),
		bBytes:     d(NameRecordingBacklogBytes, "Size of the recordings waiting for upload."),
		bOldest:    d(NameRecordingBacklogOldest, "How long the oldest recording waiting for upload has waited."),
		bRecording: d(NameRecordingsInProgress, "Recordings in progress."),
		bUploaded:  d(NameRecordingsUploaded, "Recordings stored and removed from the spool."),
		bFailures:  d(NameRecordingUploadFails, "Failed recording upload attempts."),
		bDropped:   d(NameRecordingDropped, "RTP packets left out of recordings (silence) because the recorder fell behind; should stay 0."),
		spoolFree:  d(NameSpoolFree, "Free space on the recording spool's file system (for Hotline's user)."),
		spoolSize:  d(NameSpoolSize, "Size of the recording spool's file system."),
		rWritten:   d(NameRecordsWritten, "Call records and events the records backend (file or PostgreSQL) stored."),
		rSpooled:   d(NameRecordsSpooled, "Call records and events written to the local records spool because the backend refused them (stored later, when replayed)."),
		rBatches:   d(NameRecordsSpoolBatches, "Batches of call records waiting in the local records spool for the backend."),
		rUp:        d(NameRecordsBackendUp, "1 while the records backend takes writes, 0 while it refuses them (records go to the spool)."),
		rHeld:      d(NameRecordsHeld, "Call records neither the backend nor the spool took at the last flush, kept in memory (lost if the process ends); should stay 0."),
	}
}

// Describe implements prometheus.Collector.
func (c *callbackCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.waiting, c.longest, c.open, c.lostCalls, c.agents, c.active, c.registered,
		c.legs, c.packets, c.bytes, c.lost, c.dropped, c.jMean, c.jMax, c.kernel,
		c.bFiles, c.bBytes, c.bOldest, c.bRecording, c.bUploaded, c.bFailures, c.bDropped, c.spoolFree, c.spoolSize,
		c.rWritten, c.rSpooled, c.rBatches, c.rUp, c.rHeld} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *callbackCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	queues, agents, active, registered, rtp, backlog := s.queues, s.agents, s.activeCalls, s.registered, s.rtp, s.backlog
	rtpKernel, records := s.rtpKernel, s.records
	s.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}

	if queues != nil {
		seen := map[string]bool{}
		for _, q := range queues() {
			name := orDefault(q.Queue, "unknown")
			if seen[name] {
				continue // a duplicate would fail the whole scrape
			}
			seen[name] = true
			gauge(c.waiting, float64(q.Waiting), name)
			gauge(c.longest, q.LongestWait.Seconds(), name)
			open := 0.0
			if q.Open {
				open = 1
			}
			gauge(c.open, open, name)
			counter(c.lostCalls, float64(q.Lost), name)
		}
	}
	if rtpKernel != nil {
		if k, ok := rtpKernel(); ok {
			counter(c.kernel, float64(k.Relayed), "relayed")
			counter(c.kernel, float64(k.RingFull), "ring_full")
			counter(c.kernel, float64(k.TooLong), "too_long")
		}
	}
	if agents != nil {
		counts := map[[2]string]int{}
		queueSet := map[string]bool{}
		for _, a := range agents() {
			q := orDefault(a.Queue, "unknown")
			counts[[2]string{q, orDefault(a.State, "unknown")}] += a.Count
			queueSet[q] = true
		}
		for q := range queueSet {
			for _, st := range AgentStates {
				k := [2]string{q, st}
				if _, ok := counts[k]; !ok {
					counts[k] = 0
				}
			}
		}
		keys := make([][2]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i][0] != keys[j][0] {
				return keys[i][0] < keys[j][0]
			}
			return keys[i][1] < keys[j][1]
		})
		for _, k := range keys {
			gauge(c.agents, float64(counts[k]), k[0], k[1])
		}
	}
	if active != nil {
		gauge(c.active, float64(active()))
	}
	if registered != nil {
		gauge(c.registered, float64(registered()))
	}
	if rtp != nil {
		c.collectRTP(ch, rtp())
	}
	if backlog != nil {
		b := backlog()
		gauge(c.bFiles, float64(b.Files))
		gauge(c.bBytes, float64(b.Bytes))
		gauge(c.bOldest, b.OldestAge.Seconds())
		gauge(c.bRecording, float64(b.Recording))
		counter(c.bUploaded, float64(b.Uploaded))
		counter(c.bFailures, float64(b.Failures))
		counter(c.bDropped, float64(b.Dropped))
		if b.SpoolSize > 0 {
			gauge(c.spoolFree, float64(b.SpoolFree))
			gauge(c.spoolSize, float64(b.SpoolSize))
		}
	}
	if records != nil {
		r := records()
		counter(c.rWritten, float64(r.Written))
		counter(c.rSpooled, float64(r.Spooled))
		gauge(c.rBatches, float64(r.SpoolBatches))
		up := 1.0
		if r.BackendDown {
			up = 0
		}
		gauge(c.rUp, up)
		gauge(c.rHeld, float64(r.Held))
	}
}

func (c *callbackCollector) collectRTP(ch chan<- prometheus.Metric, legs []RTPStats) {
	s := c.s
	s.mu.Lock()
	total := s.rtpEnded
	s.mu.Unlock()
	var jIn, jOut, maxIn, maxOut time.Duration
	var nIn, nOut int
	for _, l := range legs {
		total.add(l)
		if l.JitterIn > 0 {
			jIn += l.JitterIn
			nIn++
			maxIn = max(maxIn, l.JitterIn)
		}
		if l.JitterOut > 0 {
			jOut += l.JitterOut
			nOut++
			maxOut = max(maxOut, l.JitterOut)
		}
	}
	values := [7]float64{
		float64(total.PacketsIn), float64(total.PacketsOut),
		float64(total.BytesIn), float64(total.BytesOut),
		float64(total.LostIn), float64(total.LostOut),
		float64(total.Dropped),
	}
	// A leg that ends between the source's listing and RTPLegEnded is
	// briefly in neither: never let a counter go back.
	s.mu.Lock()
	for i, v := range values {
		if v < s.rtpLast[i] {
			values[i] = s.rtpLast[i]
		}
		s.rtpLast[i] = values[i]
	}
	s.mu.Unlock()
	cm := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.legs, prometheus.GaugeValue, float64(len(legs)))
	cm(c.packets, values[0], string(In))
	cm(c.packets, values[1], string(Out))
	cm(c.bytes, values[2], string(In))
	cm(c.bytes, values[3], string(Out))
	cm(c.lost, values[4], string(In))
	cm(c.lost, values[5], string(Out))
	cm(c.dropped, values[6])
	mean := func(sum time.Duration, n int) float64 {
		if n == 0 {
			return 0
		}
		return sum.Seconds() / float64(n)
	}
	ch <- prometheus.MustNewConstMetric(c.jMean, prometheus.GaugeValue, mean(jIn, nIn), string(In))
	ch <- prometheus.MustNewConstMetric(c.jMean, prometheus.GaugeValue, mean(jOut, nOut), string(Out))
	ch <- prometheus.MustNewConstMetric(c.jMax, prometheus.GaugeValue, maxIn.Seconds(), string(In))
	ch <- prometheus.MustNewConstMetric(c.jMax, prometheus.GaugeValue, maxOut.Seconds(), string(Out))
}
