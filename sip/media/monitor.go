package media

import (
	"errors"
	"hotline/audio"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// MonitorMode is how a supervisor takes part in a monitored call.
type MonitorMode uint32

// Monitoring modes (like Asterisk's ChanSpy and FreeSWITCH's eavesdrop).
const (
	// Listen: the supervisor hears caller and agent mixed; nobody hears
	// the supervisor.
	Listen MonitorMode = iota + 1
	// Whisper: the agent also hears the supervisor; the caller does not.
	Whisper
	// Barge: caller, agent and supervisor all hear each other.
	Barge
)

// String returns listen, whisper or barge.
func (m MonitorMode) String() string {
	switch m {
	case Listen:
		return "listen"
	case Whisper:
		return "whisper"
	case Barge:
		return "barge"
	}
	return "MonitorMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMonitorMode maps listen, whisper or barge (case-insensitive) to a
// mode.
func ParseMonitorMode(s string) (MonitorMode, bool) {
	for _, m := range []MonitorMode{Listen, Whisper, Barge} {
		if strings.EqualFold(s, m.String()) {
			return m, true
		}
	}
	return 0, false
}

// ErrMonitored is returned by NewMonitor when one of the legs already
// takes part in a monitored call.
var ErrMonitored = errors.New("media: leg already monitored")

// Monitor joins a supervisor's leg to a caller's leg and an agent's leg
// that are bridged with each other.
//
// The caller-agent relay stays the fast path: packets still go straight
// from one leg's socket to the other's. The monitor only
//   - copies each leg's received audio into a small jitter buffer (one per
//     speaker), from which the supervisor's leg plays caller+agent mixed
//     in its own 20 ms packets (in every mode);
//   - in whisper and barge adds the supervisor's audio to the caller's
//     packets on their way to the agent, after the caller's tap (so a
//     recording's caller channel never holds the supervisor);
//   - in barge also adds it to the agent's packets before the agent's tap
//     (the recording's agent channel holds agent+supervisor) and so on to
//     the caller.
//
// What the caller hears in listen and whisper is the agent's packets as
// the agent sent them (same SSRC, sequence numbers, timestamps and
// payload): switching between those modes cannot cause a gap or a click.
// Switching to barge changes only the content of those packets.
type Monitor struct {
	caller, agent, sup *Leg
	mode               atomic.Uint32

	fromCaller, fromAgent, fromSup *jitterRing
	pts                            [3]*mixPoint

	stopOnce sync.Once
	done     chan struct{}
}

// Readers of the supervisor's ring: one per path it is added to.
const (
	toAgent  = 0
	toCaller = 1
)

// NewMonitor starts monitoring: sup (the supervisor's leg, with its
// remote set and started, not bridged) hears caller and agent mixed, and
// takes part as mode says. Nothing changes on the caller and agent legs
// but the added hooks; their bridge is the caller's business. A leg takes
// part in at most one monitor at a time (ErrMonitored).
func NewMonitor(caller, agent, sup *Leg, mode MonitorMode) (*Monitor, error) {
	if caller == nil || agent == nil || sup == nil || caller == agent || caller == sup || agent == sup {
		return nil, errors.New("media: a monitor needs three distinct legs")
	}
	if _, ok := ParseMonitorMode(mode.String()); !ok {
		return nil, errors.New("media: unknown monitor mode " + mode.String())
	}
	m := &Monitor{caller: caller, agent: agent, sup: sup, done: make(chan struct{}),
		fromCaller: newJitterRing(), fromAgent: newJitterRing(), fromSup: newJitterRing()}
	m.mode.Store(uint32(mode))
	m.pts = [3]*mixPoint{{m: m, role: roleCaller}, {m: m, role: roleAgent}, {m: m, role: roleSupervisor}}
	installed := 0
	for i, l := range []*Leg{caller, agent, sup} {
		if !l.mix.CompareAndSwap(nil, m.pts[i]) {
			break
		}
		installed++
	}
	if installed < 3 {
		for i, l := range []*Leg{caller, agent, sup}[:installed] {
			l.mix.CompareAndSwap(m.pts[i], nil)
		}
		return nil, ErrMonitored
	}
	for _, l := range []*Leg{caller, agent, sup} {
		l.syncKernel() // the monitor's hooks see every packet
	}
	sup.Play(&supervisorMix{m: m})
	go func() { // a leg ending ends the monitoring
		select {
		case <-caller.Done():
		case <-agent.Done():
		case <-sup.Done():
		case <-m.done:
			return
		}
		m.Stop()
	}()
	return m, nil
}

// Done is closed when the monitoring has ended: Stop, or one of the three
// legs ended (the call hung up, the supervisor left). Call control hangs
// up the supervisor then.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Monitored reports whether l takes part in a monitor now.
func Monitored(l *Leg) bool { return l.mix.Load() != nil }

// Mode returns the current mode.
func (m *Monitor) Mode() MonitorMode { return MonitorMode(m.mode.Load()) }

// SetMode switches the supervisor to mode (unknown modes are ignored). It
// takes effect with the next packet; the supervisor's buffered audio is
// dropped so that nothing said before the switch reaches anyone after it.
func (m *Monitor) SetMode(mode MonitorMode) {
	if _, ok := ParseMonitorMode(mode.String()); !ok {
		return
	}
	if MonitorMode(m.mode.Swap(uint32(mode))) != mode {
		m.fromSup.restart(toAgent)
		m.fromSup.restart(toCaller)
	}
}

// Stop ends the monitoring: the hooks leave the three legs (the caller
// and agent stay bridged as they were), the supervisor's leg stops
// playing and Done is closed. The legs stay open. It is safe to call
// more than once.
func (m *Monitor) Stop() {
	m.stopOnce.Do(func() {
		for i, l := range []*Leg{m.caller, m.agent, m.sup} {
			l.mix.CompareAndSwap(m.pts[i], nil)
			l.syncKernel()
		}
		m.sup.Play(nil)
		close(m.done)
	})
}

type mixRole uint8

const (
	roleCaller mixRole = iota
	roleAgent
	roleSupervisor
)

// mixPoint is a monitor's hook on one leg. Its methods run on that leg's
// packet goroutine only, so the scratch buffer needs no lock.
type mixPoint struct {
	m    *Monitor
	role mixRole
	pcm  [maxPayloadSamples]int16
}

// maxPayloadSamples bounds the G.711 payload mixed (the read buffer is
// 1600 bytes; payloads are checked against it).
const maxPayloadSamples = 1600

// received is called with the audio payload of every packet the leg
// accepts, before its tap. It files the audio for the supervisor (or,
// on the supervisor's leg, for the other two) and in barge adds the
// supervisor to the agent's audio in place.
func (p *mixPoint) received(payload []byte, enc audio.Encoding) {
	if len(payload) > maxPayloadSamples {
		return
	}
	pcm := p.pcm[:len(payload)]
	audio.Decode(pcm, payload, enc)
	m := p.m
	switch p.role {
	case roleCaller:
		m.fromCaller.write(pcm)
	case roleSupervisor:
		m.fromSup.write(pcm)
	case roleAgent:
		m.fromAgent.write(pcm)
		if m.Mode() == Barge && m.fromSup.mixInto(pcm, toCaller) {
			audio.Encode(payload, pcm, enc)
		}
	}
}

// relay is called when a received packet is about to be sent to the
// bridged leg, after the tap, with the payload still in the received
// encoding. On the caller's leg in whisper and barge it adds the
// supervisor and writes the payload in the destination's encoding,
// returning true; otherwise it returns false and the relay transcodes as
// usual.
func (p *mixPoint) relay(payload []byte, from, to audio.Encoding) bool {
	if p.role != roleCaller || len(payload) > maxPayloadSamples {
		return false
	}
	if mode := p.m.Mode(); mode != Whisper && mode != Barge {
		return false
	}
	pcm := p.pcm[:len(payload)] // received decoded it already
	if !p.m.fromSup.mixInto(pcm, toAgent) {
		return false
	}
	audio.Encode(payload, pcm, to)
	return true
}

// supervisorMix is the supervisor leg's Source: caller and agent mixed.
type supervisorMix struct{ m *Monitor }

func (s *supervisorMix) Read(samples []int16) {
	clear(samples)
	s.m.fromCaller.mixInto(samples, 0)
	s.m.fromAgent.mixInto(samples, 0)
}

// Jitter buffering of one speaker's audio for the mix.
const (
	ringSamples = 8192     // 1.024 s at 8 kHz
	ringPrime   = 2 * 160  // a reader starts once 40 ms are buffered
	ringMaxLag  = 15 * 160 // a reader more than 300 ms behind skips ahead
	ringReaders = 2        // the supervisor's audio goes two ways
	ringMask    = ringSamples - 1
)

// jitterRing buffers one speaker's linear audio, written by the leg that
// receives it and read, each at its own pace, by up to ringReaders
// consumers (each on its own goroutine). A reader waits until ringPrime
// samples are buffered, reads at its own clock, skips ahead when it falls
// more than ringMaxLag behind (the writer's clock is faster, or the
// reader stalled) and after running dry waits to be primed again. Packet
// loss and silence suppression shorten the buffered audio; they are not
// filled in.
type jitterRing struct {
	mu      sync.Mutex
	buf     [ringSamples]int16
	w       int64 // samples written in all
	readers [ringReaders]ringReader
}

type ringReader struct {
	r      int64
	primed bool
}

func newJitterRing() *jitterRing { return &jitterRing{} }

func (j *jitterRing) write(pcm []int16) {
	j.mu.Lock()
	for i, s := range pcm {
		j.buf[(j.w+int64(i))&ringMask] = s
	}
	j.w += int64(len(pcm))
	j.mu.Unlock()
}

// restart makes reader i wait for fresh audio.
func (j *jitterRing) restart(i int) {
	j.mu.Lock()
	j.readers[i] = ringReader{r: j.w}
	j.mu.Unlock()
}

// mixInto adds (saturating) the next len(dst) buffered samples for
// reader i to dst. It reports whether it added anything.
func (j *jitterRing) mixInto(dst []int16, i int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	rd := &j.readers[i]
	avail := j.w - rd.r
	if avail > ringMaxLag || avail < 0 {
		rd.r = j.w - ringPrime
		avail = ringPrime
	}
	if !rd.primed {
		if avail < ringPrime {
			return false
		}
		rd.primed = true
	}
	n := min(int64(len(dst)), avail)
	for k := range n {
		dst[k] = addSat(dst[k], j.buf[(rd.r+k)&ringMask])
	}
	rd.r += n
	if n < int64(len(dst)) {
		rd.primed = false // ran dry: wait for ringPrime again
	}
	return n > 0
}

func addSat(a, b int16) int16 {
	s := int32(a) + int32(b)
	if s > 32767 {
		return 32767
	}
	if s < -32768 {
		return -32768
	}
	return int16(s)
}
