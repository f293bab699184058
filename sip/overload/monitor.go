package overload

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
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
	due atomic.Int64 // when the probe timer is due next, Unix ns
}

// NewMonitor returns a monitor feeding d.
func NewMonitor(d *Detector, src Sources) *Monitor {
	if src.Log == nil {
		src.Log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{d: d, src: src}
}

// Run samples every Interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	interval := m.d.cfg.Interval
	go m.probe(ctx, max(interval/4, 5*time.Millisecond))
	t := time.NewTicker(interval)
	defer t.Stop()
	lastCPU, lastWall := processCPU(), time.Now()
	var lastDropped uint64
	if m.src.RecorderDropped != nil {
		lastDropped = m.src.RecorderDropped()
	}
	was := false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var due time.Time
			if ns := m.due.Load(); ns != 0 {
				due = time.Unix(0, ns)
			}
			r := Reading{SchedulingLag: schedulingLag(time.Now(), due, time.Duration(m.lag.Swap(0)))}
			cpu := processCPU()
			if wall := now.Sub(lastWall); wall > 0 {
				r.CPU = float64(cpu-lastCPU) / float64(wall) / float64(runtime.GOMAXPROCS(0))
			}
			lastCPU, lastWall = cpu, now
			for _, c := range m.src.Sockets {
				r.SocketBacklog = max(r.SocketBacklog, receiveBacklog(c))
			}
			if f := m.src.RecorderDropped; f != nil {
				n := f()
				if n > lastDropped {
					r.RecorderDrops = n - lastDropped
				}
				lastDropped = n
			}
			if p := m.d.cfg.PressureFile; p != "" {
				r.Pressure = readPressure(p)
			}
			st := m.d.Update(now, r)
			if st.Shedding != was {
				if st.Shedding {
					m.src.Log.Warn("overloaded: new calls are refused", "reason", st.Reason, "saturation", st.Saturation,
						"scheduling_lag", r.SchedulingLag, "socket_backlog", r.SocketBacklog, "cpu", r.CPU,
						"recorder_drops", r.RecorderDrops, "pressure", r.Pressure)
				} else {
					m.src.Log.Info("overload over: new calls are admitted again", "saturation", st.Saturation)
				}
				was = st.Shedding
			}
			if m.src.OnSample != nil {
				m.src.OnSample(st)
			}
		}
	}
}

// probe measures how late a timer fires: while the cores are saturated,
// a runnable goroutine (a SIP request's handler, an RTP relay) waits for
// one just as long.
func (m *Monitor) probe(ctx context.Context, tick time.Duration) {
	t := time.NewTimer(tick)
	defer t.Stop()
	due := time.Now().Add(tick)
	m.due.Store(due.UnixNano())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if late := int64(now.Sub(due)); late > m.lag.Load() {
				m.lag.Store(late) // only this goroutine raises it
			}
			due = time.Now().Add(tick)
			m.due.Store(due.UnixNano())
			t.Reset(tick)
		}
	}
}

// schedulingLag is the worst lateness of the probe timer since the last
// sample: what it recorded, or how overdue it is now when it has not
// fired yet (the whole process got no core: the probe cannot record that
// until it runs again, after this sample).
func schedulingLag(now, due time.Time, recorded time.Duration) time.Duration {
	if !due.IsZero() && now.Sub(due) > recorded {
		return now.Sub(due)
	}
	return recorded
}

// processCPU returns the process's user and system CPU time in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
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
