package overload

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Sources are the live signals a Monitor samples.
type Sources struct {
	// Sockets are the SIP UDP sockets whose receive buffers are watched.
	Sockets []syscall.Conn
	// RecorderDropped returns the packets recorders dropped since start
	// (monotonic); nil: not watched.
	RecorderDropped func() uint64
	// RTPDelay returns the least time the RTP packets read since its last
	// call waited in the legs' sockets, and how many reads there were
	// (media.Ports.TakeReadDelay); nil: not watched.
	RTPDelay func() (time.Duration, int64)
	// RecordsHeld returns how many call records are kept only in memory
	// (records.Store's Held); nil: not watched.
	RecordsHeld func() int
	// SpoolFree returns the free space on the recording spool's file
	// system, in bytes, and whether it could be read; nil: not watched.
	SpoolFree func() (uint64, bool)
	// OnSample receives each decision (metrics); nil: none.
	OnSample func(State)
	// Log reports when shedding starts and stops.
	Log *slog.Logger
}

// Monitor samples the live signals into a Detector until its context
// ends.
type Monitor struct {
	d   *Detector
	src Sources

	lag atomic.Int64 // worst probe lateness since the last sample, ns
	// probes are the recent probes' firing times and lateness (a ring).
	probesMu sync.Mutex
	probes   [probeRing]probeLate
	probeN   int
	// backlog is the least socket backlog the probes read since the last
	// sample, read by backlogN of them (see standingBacklog).
	backlog  float64
	backlogN int
	due      atomic.Int64 // when the probe timer is due next, Unix ns
}

// NewMonitor returns a monitor feeding d.
func NewMonitor(d *Detector, src Sources) *Monitor {
	if src.Log == nil {
		src.Log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{d: d, src: src}
}

// probeRing is how many recent probes the monitor keeps: more than fire
// in two intervals (every Interval/10).
const probeRing = 32

// probeLate is one probe: when it ran and how late.
type probeLate struct {
	at   time.Time
	late time.Duration
}

// leastLate returns the least lateness of the probes that ran in the
// window before now; -1 when none did.
func (m *Monitor) leastLate(now time.Time, window time.Duration) time.Duration {
	m.probesMu.Lock()
	defer m.probesMu.Unlock()
	least := time.Duration(-1)
	for i := range min(m.probeN, probeRing) {
		p := m.probes[i]
		if now.Sub(p.at) <= window && (least < 0 || p.late < least) {
			least = p.late
		}
	}
	return least
}

// Run samples every Interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	interval := m.d.cfg.Interval
	go m.probe(ctx, max(interval/10, 2*time.Millisecond))
	t := time.NewTicker(interval)
	defer t.Stop()
	lastCPU, lastWall := processCPU(), time.Now()
	// /proc/stat is read only for machine_cpu (off by default).
	var machine machineWindow
	machineOn := m.d.cfg.MachineCPU > 0
	if ticks, ok := readMachineTicks(); ok && machineOn {
		machine.add(ticks, lastCPU)
	}
	var lastDropped uint64
	if m.src.RecorderDropped != nil {
		lastDropped = m.src.RecorderDropped()
	}
	was, learned, remembered := false, 0.0, false
	lastDelay, lastSetups := m.d.QueueRefused()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var due time.Time
			if ns := m.due.Load(); ns != 0 {
				due = time.Unix(0, ns)
			}
			at := time.Now()
			// The standing lag looks back two intervals: a stall of the
			// whole process shorter than that (a busy machine's, a long
			// pause) is a burst, not a queue.
			window := 2 * interval
			r := Reading{SchedulingLag: schedulingLag(at, due, m.leastLate(at, window), window),
				PeakLag: time.Duration(m.lag.Swap(0))}
			cpu := processCPU()
			if wall := now.Sub(lastWall); wall > 0 {
				r.CPU = float64(cpu-lastCPU) / float64(wall) / usableCores()
			}
			if machineOn {
				if ticks, ok := readMachineTicks(); ok {
					r.MachineCPU, r.HotlineShare = machine.add(ticks, cpu)
				}
			}
			lastCPU, lastWall = cpu, now
			r.SocketBacklog = m.standingBacklog(m.socketBacklog())
			if f := m.src.RecorderDropped; f != nil {
				n := f()
				if n > lastDropped {
					r.RecorderDrops = n - lastDropped
				}
				lastDropped = n
			}
			if f := m.src.RTPDelay; f != nil {
				if d, n := f(); n > 0 {
					r.RTPDelay = d
				}
			}
			delay, setups := m.d.QueueRefused()
			r.DelayRefused, r.SetupsRefused = delay-lastDelay, setups-lastSetups
			lastDelay, lastSetups = delay, setups
			if p := m.d.cfg.PressureFile; p != "" {
				r.Pressure = readPressure(p)
			}
			if f := m.src.RecordsHeld; f != nil {
				r.RecordsHeld = f()
			}
			if f := m.src.SpoolFree; f != nil && m.d.cfg.SpoolFreeMB > 0 { // a statfs: only when judged
				r.SpoolFree, r.SpoolKnown = f()
			}
			st := m.d.Update(now, r)
			if st.Shedding != was {
				if st.Shedding {
					m.src.Log.Warn("overloaded: new calls are refused", "reason", st.Reason, "saturation", st.Saturation,
						"scheduling_lag", r.SchedulingLag, "peak_lag", r.PeakLag, "setups", m.d.Setups(), "socket_backlog", r.SocketBacklog, "cpu", r.CPU,
						"recorder_drops", r.RecorderDrops, "rtp_delay", r.RTPDelay, "refused_socket_delay", r.DelayRefused, "refused_setups", r.SetupsRefused, "pressure", r.Pressure, "machine_cpu", r.MachineCPU, "hotline_share", r.HotlineShare,
						"records_held", r.RecordsHeld, "spool_free_bytes", r.SpoolFree)
				} else {
					m.src.Log.Info("overload over: new calls are admitted again", "saturation", st.Saturation)
				}
				was = st.Shedding
			}
			switch {
			case st.Learned > 0 && learned == 0:
				m.src.Log.Warn("overloaded: new calls admitted at no more than a learned rate", "calls_per_second", st.Learned, "reason", m.d.learnWhy.Load())
			case st.Learned > 0 && st.Learned < learned:
				m.src.Log.Warn("overloaded again: learned rate cut", "calls_per_second", st.Learned, "was", learned, "reason", m.d.learnWhy.Load())
			case st.Learned == 0 && learned > 0:
				m.src.Log.Info("learned rate dropped: it refused no call for a while", "was", learned)
			case st.Remembered && !remembered:
				m.src.Log.Info("overload over: the learned rate stays in force as a bound on new calls", "calls_per_second", st.Learned, "for", m.d.cfg.LearnMemory)
			case !st.Remembered && remembered:
				m.src.Log.Warn("new calls past the remembered learned rate refused", "calls_per_second", st.Learned, "reason", m.d.learnWhy.Load())
			}
			learned, remembered = st.Learned, st.Remembered
			if m.src.OnSample != nil {
				m.src.OnSample(st)
			}
		}
	}
}

// probe measures how late a timer's goroutine runs: while the cores are
// saturated, a runnable goroutine (a SIP request's handler, an RTP relay)
// waits for one just as long.
func (m *Monitor) probe(ctx context.Context, tick time.Duration) {
	t := time.NewTimer(tick)
	defer t.Stop()
	due := time.Now().Add(tick)
	m.due.Store(due.UnixNano())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Now, not the channel's time (when the timer fired): the
			// probe's own wait for a core counts, as a handler's would.
			at := time.Now()
			late := max(at.Sub(due), 0)
			if int64(late) > m.lag.Load() {
				m.lag.Store(int64(late)) // only this goroutine raises it
			}
			m.probesMu.Lock()
			m.probes[m.probeN%probeRing] = probeLate{at: at, late: late}
			m.probeN++
			m.probesMu.Unlock()
			m.noteBacklog()
			due = time.Now().Add(tick)
			m.due.Store(due.UnixNano())
			t.Reset(tick)
		}
	}
}

// socketBacklog is the fullest of the watched sockets' receive buffers
// now (receiveBacklog).
func (m *Monitor) socketBacklog() float64 {
	var b float64
	for _, c := range m.src.Sockets {
		b = max(b, receiveBacklog(c))
	}
	return b
}

// noteBacklog is a probe's reading of the sockets' backlog, kept for
// standingBacklog.
func (m *Monitor) noteBacklog() {
	if len(m.src.Sockets) == 0 {
		return
	}
	b := m.socketBacklog()
	m.probesMu.Lock()
	if m.backlogN == 0 || b < m.backlog {
		m.backlog = b
	}
	m.backlogN++
	m.probesMu.Unlock()
}

// standingBacklog is the socket backlog that stood through the interval
// now ending: the least of the probes' readings since the last sample
// (every Interval/10) and now's, as the scheduling lag and the door's
// socket wait are judged (CoDel's minimum over an interval). A queue
// that the reader drained at any point of the interval (a burst of
// datagrams, a short stall of the process or the machine) is not
// overload; one that never fell below the threshold is. When no probe
// ran (the whole process waited for a core), now's reading counts alone.
func (m *Monitor) standingBacklog(now float64) float64 {
	m.probesMu.Lock()
	defer m.probesMu.Unlock()
	least := now
	if m.backlogN > 0 {
		least = min(least, m.backlog)
	}
	m.backlog, m.backlogN = 0, 0
	return least
}

// schedulingLag is the standing lateness of the probe timer: the least
// lateness of the probes that ran in the last window (least; -1: none
// did), so that a late probe (a garbage collection, a burst of work) does
// not count while others in the window were on time (CoDel's minimum
// over an interval), or, when none ran, how overdue the probe is
// now, once that is a whole window or more (the whole process got no
// core: the probe cannot record that until it runs again, after this
// sample; a shorter wait is a burst, which the next sample's probes see
// if it lasts).
func schedulingLag(now, due time.Time, least, window time.Duration) time.Duration {
	if least < 0 {
		if overdue := now.Sub(due); !due.IsZero() && overdue >= window {
			return overdue
		}
		return 0
	}
	return least
}

// readPressure reads the pressure file's number; missing, empty or not a
// number reads as 0.
func readPressure(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// usableCores is how many cores the process's CPU time is measured
// against: GOMAXPROCS, but no more than the CPUs it may run on
// (runtime.NumCPU: the affinity mask). GOMAXPROCS set above the CPU count
// gives more threads, not more cores.
func usableCores() float64 {
	return float64(min(runtime.GOMAXPROCS(0), runtime.NumCPU()))
}
