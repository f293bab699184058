package overload

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hotline/internal/cfg"
)

func testConfig() Config {
	c := Config{Confirm: 2, Release: 0.5, Hold: 2 * time.Second, ReleaseRamp: -1}
	c.SetDefaults()
	return c
}

// step feeds d one sample per 100 ms from t0 and returns the decisions.
func step(d *Detector, t0 time.Time, rs ...Reading) []State {
	out := make([]State, len(rs))
	for i, r := range rs {
		out[i] = d.Update(t0.Add(time.Duration(i)*100*time.Millisecond), r)
	}
	return out
}

func TestDetectorStartsAfterConfirmSamples(t *testing.T) {
	d := NewDetector(testConfig())
	t0 := time.Unix(1000, 0)
	lagged := Reading{SchedulingLag: 15 * time.Millisecond, CPU: 0.5} // 1.5x the 10ms threshold, Hotline busy
	st := step(d, t0, Reading{}, lagged, Reading{SchedulingLag: time.Millisecond}, lagged, lagged)
	for i, want := range []bool{false, false, false, false, true} {
		if st[i].Shedding != want {
			t.Fatalf("sample %d: shedding %v, want %v (one late sample, or two apart, must not shed)", i, st[i].Shedding, want)
		}
	}
	if st[4].Reason != ReasonSchedulingLag || st[4].Saturation != 1.5 {
		t.Errorf("decision %+v, want reason scheduling_lag at saturation 1.5", st[4])
	}
	if on, why := d.Shedding(); !on || why != ReasonSchedulingLag {
		t.Errorf("Shedding() = %v, %q", on, why)
	}
}

func TestDetectorHysteresis(t *testing.T) {
	d := NewDetector(testConfig())
	t0 := time.Unix(1000, 0)
	full := Reading{SocketBacklog: 0.6, CPU: 0.5}
	step(d, t0, full, full) // shedding from t0+100ms
	if on, why := d.Shedding(); !on || why != ReasonSocketBacklog {
		t.Fatalf("not shedding on a 60%% full socket: %v %q", on, why)
	}
	// Quiet before Hold has passed: still shedding.
	if st := d.Update(t0.Add(time.Second), Reading{}); !st.Shedding {
		t.Fatal("shedding stopped before hold")
	}
	// After Hold, a signal between release (0.15) and threshold (0.3) keeps it on.
	if st := d.Update(t0.Add(3*time.Second), Reading{SocketBacklog: 0.2, CPU: 0.5}); !st.Shedding {
		t.Fatal("shedding stopped while the signal was over the release share")
	}
	if st := d.Update(t0.Add(3100*time.Millisecond), Reading{SocketBacklog: 0.1}); st.Shedding || st.Reason != "" {
		t.Fatalf("still shedding under the release share after hold: %+v", st)
	}
	if on, _ := d.Shedding(); on {
		t.Fatal("Shedding() still true")
	}
	// One sample over the threshold again does not restart it.
	if st := d.Update(t0.Add(3200*time.Millisecond), full); st.Shedding {
		t.Fatal("one sample restarted shedding")
	}
}

func TestDetectorReasons(t *testing.T) {
	for _, tc := range []struct {
		r    Reading
		want Reason
	}{
		{Reading{CPU: 0.95}, ReasonCPU},
		{Reading{RecorderDrops: 3}, ReasonRecorderDrops},
		{Reading{Pressure: 1}, ReasonPressure},
		{Reading{SchedulingLag: 20 * time.Millisecond, SocketBacklog: 0.45, CPU: 0.5}, ReasonSchedulingLag}, // 2x beats 1.5x
		// The media relay behind, whoever holds the cores (CPU 1%).
		{Reading{RTPDelay: 150 * time.Millisecond, CPU: 0.01}, ReasonRTPDelay},
	} {
		d := NewDetector(testConfig())
		st := step(d, time.Unix(0, 0), tc.r, tc.r)
		if !st[1].Shedding || st[1].Reason != tc.want {
			t.Errorf("%+v: got %+v, want shedding for %s", tc.r, st[1], tc.want)
		}
	}
	// Just under every threshold: nothing shed, however long.
	d := NewDetector(testConfig())
	under := Reading{SchedulingLag: 9 * time.Millisecond, PeakLag: time.Second, SocketBacklog: 0.29, CPU: 0.89, Pressure: 0.99,
		RTPDelay: 99 * time.Millisecond}
	for _, st := range step(d, time.Unix(0, 0), under, under, under, under) {
		if st.Shedding {
			t.Fatalf("shedding under every threshold: %+v", st)
		}
	}
}

// TestDetectorLagNeedsHotlineBusy: a scheduling lag or a full socket
// while Hotline itself used little CPU (other programs hold the cores)
// does not shed; the same with Hotline busy does.
func TestDetectorLagNeedsHotlineBusy(t *testing.T) {
	starved := Reading{SchedulingLag: 50 * time.Millisecond, SocketBacklog: 0.9, CPU: 0.01}
	d := NewDetector(testConfig())
	for _, st := range step(d, time.Unix(0, 0), starved, starved, starved) {
		if st.Shedding {
			t.Fatalf("shedding while Hotline used 1%% of its cores: %+v", st)
		}
	}
	busy := starved
	busy.CPU = 0.6
	if st := step(d, time.Unix(1, 0), busy, busy); !st[1].Shedding {
		t.Fatalf("not shedding with Hotline busy and lagging: %+v", st[1])
	}
	c := testConfig()
	c.MinCPU = -1
	d = NewDetector(c)
	if st := step(d, time.Unix(0, 0), starved, starved); !st[1].Shedding {
		t.Fatalf("min_cpu -1: not shedding on lag: %+v", st[1])
	}
}

func TestDetectorSignalOff(t *testing.T) {
	c := testConfig()
	c.CPU = -1
	d := NewDetector(c)
	if st := step(d, time.Unix(0, 0), Reading{CPU: 1}, Reading{CPU: 1}); st[1].Shedding {
		t.Fatal("cpu: -1 still sheds on CPU")
	}
}

func TestNilDetectorNeverSheds(t *testing.T) {
	var d *Detector
	if on, _ := d.Shedding(); on {
		t.Fatal("nil detector sheds")
	}
}

// udpPair returns a loopback socket with a 64 KiB receive buffer that
// nothing reads, and a func that sends it n datagrams of 1000 bytes.
func udpPair(t *testing.T) (*net.UDPConn, func(n int)) {
	t.Helper()
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rx.Close() })
	if err := rx.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Close() })
	return rx, func(n int) {
		t.Helper()
		for range n {
			if _, err := tx.Write(make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestReceiveBacklog: datagrams nobody reads fill a socket's receive
// buffer; the backlog says how full it is.
func TestReceiveBacklog(t *testing.T) {
	rx, send := udpPair(t)
	if b := receiveBacklog(rx); b != 0 {
		t.Fatalf("empty socket backlog %v", b)
	}
	send(20)
	b := receiveBacklog(rx)
	if b <= 0.1 || b > 1 {
		t.Fatalf("backlog %v after 20 KB queued in a 64 KiB buffer (the kernel doubles it), want a share above 0.1", b)
	}
}

func TestReadPressure(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pressure")
	if v := readPressure(p); v != 0 {
		t.Fatalf("missing file: %v", v)
	}
	for in, want := range map[string]float64{"1\n": 1, " 0.25 ": 0.25, "": 0, "high": 0, "-3": 0} {
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		if v := readPressure(p); v != want {
			t.Errorf("%q read as %v, want %v", in, v, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Release, c.RetryAfter, c.CPU, c.Interval, c.MinCPU = 1.5, 1500*time.Millisecond, 2, time.Millisecond, 1.5
	c.MachineCPU, c.MachineShare, c.Cut, c.MaxCPS, c.RTPDelay = 1.2, -0.5, 1.1, -1, time.Microsecond
	on, off := true, false
	c.DoorProcess, c.InviteSocket = &on, &off
	err := c.Validate()
	got := map[string]bool{}
	for _, f := range cfg.Fields(err) {
		got[f.Field] = true
	}
	for _, f := range []string{"release", "retry_after", "cpu", "interval", "min_cpu", "machine_cpu", "machine_share", "cut", "max_cps", "rtp_delay", "door_process"} {
		if !got[f] {
			t.Errorf("no error for %s in %v", f, err)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "must be above 0 and below 1") {
		t.Errorf("errors do not say what is wrong: %v", err)
	}
}

// TestDetectorOnSetups: OnSetups is told the calls in setup at each
// admission and each setup's end (once, however often done is called),
// not at a refusal.
func TestDetectorOnSetups(t *testing.T) {
	c := testConfig()
	c.MaxSetups = 1
	d := NewDetector(c)
	var told []int64
	d.OnSetups(func(n int64) { told = append(told, n) })
	done, _, ok := d.Admit(false)
	if !ok {
		t.Fatal("first call refused")
	}
	if _, _, ok := d.Admit(false); ok {
		t.Fatal("a second call admitted at max_setups 1")
	}
	done()
	done()
	if fmt.Sprint(told) != "[1 0]" {
		t.Errorf("told %v, want [1 0]", told)
	}
}

// TestConfigDoorProcess: the door process is on by default wherever
// there is an INVITE socket, off without one (no error: nobody asked for
// it), and off when turned off.
func TestConfigDoorProcess(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name         string
		door, invite *bool
		want         bool
	}{
		{"defaults", nil, nil, true},
		{"no INVITE socket", nil, &off, false},
		{"turned off", &off, nil, false},
		{"turned on", &on, &on, true},
	} {
		c := Config{DoorProcess: tc.door, InviteSocket: tc.invite}
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := c.SeparateDoor(); got != tc.want {
			t.Errorf("%s: door process %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSchedulingLag: the signal is the least lateness of the probes that
// fired in a sample (one late probe, a garbage collection or a burst,
// does not count), and a probe that has not fired at all counts as late
// as it is overdue once that is a whole interval, so a process that got
// no core during a sample is seen lagging in that sample.
func TestSchedulingLag(t *testing.T) {
	due := time.Unix(100, 0)
	for _, tc := range []struct {
		now   time.Time
		least time.Duration
		want  time.Duration
	}{
		{due.Add(-time.Millisecond), 2 * time.Millisecond, 2 * time.Millisecond}, // not due yet
		{due.Add(80 * time.Millisecond), 2 * time.Millisecond, 2 * time.Millisecond},
		{due.Add(180 * time.Millisecond), -1, 180 * time.Millisecond}, // none fired for an interval: overdue
		{due.Add(80 * time.Millisecond), -1, 0},                       // none fired, for less than an interval
		{due.Add(-time.Millisecond), -1, 0},
		{due.Add(time.Millisecond), 40 * time.Millisecond, 40 * time.Millisecond},
	} {
		if got := schedulingLag(tc.now, due, tc.least, 100*time.Millisecond); got != tc.want {
			t.Errorf("now due%+v, least %s: got %s, want %s", tc.now.Sub(due), tc.least, got, tc.want)
		}
	}
	if got := schedulingLag(due, time.Time{}, 3*time.Millisecond, 100*time.Millisecond); got != 3*time.Millisecond {
		t.Errorf("probe not started: got %s", got)
	}
}

// TestStandingLagIgnoresOneLateProbe: a probe made late by a garbage
// collection, a burst or a short stall does not count while other probes
// in the window were on time (the least lateness is the signal); probes
// all late in the window do.
func TestStandingLagIgnoresOneLateProbe(t *testing.T) {
	m := NewMonitor(NewDetector(testConfig()), Sources{})
	t0 := time.Unix(100, 0)
	record := func(at time.Duration, late time.Duration) {
		m.probes[m.probeN%probeRing] = probeLate{at: t0.Add(at), late: late}
		m.probeN++
	}
	for i := range 20 { // every 10 ms for 200 ms, on time but one
		late := 300 * time.Microsecond
		if i == 12 {
			late = 150 * time.Millisecond // one stall
		}
		record(time.Duration(i)*10*time.Millisecond, late)
	}
	window := 200 * time.Millisecond
	if got := m.leastLate(t0.Add(195*time.Millisecond), window); got != 300*time.Microsecond {
		t.Fatalf("standing lag %s with one late probe, want the others' 300µs", got)
	}
	for i := range 20 { // then 200 ms of probes all 20-40 ms late
		record(time.Duration(200+10*i)*time.Millisecond, time.Duration(20+i)*time.Millisecond)
	}
	if got := m.leastLate(t0.Add(395*time.Millisecond), window); got != 20*time.Millisecond {
		t.Fatalf("standing lag %s with every probe late, want the least, 20ms", got)
	}
	if got := m.leastLate(t0.Add(time.Second), window); got != -1 {
		t.Fatalf("no probe in the window: got %s, want -1", got)
	}
}

// TestAdmitBoundsSetups: at most MaxSetups new calls are being set up at
// once; the next is refused for "setups" until one's setup is done
// (done may be called more than once).
func TestAdmitBoundsSetups(t *testing.T) {
	c := testConfig()
	c.MaxSetups = 2
	d := NewDetector(c)
	done1, _, ok1 := d.Admit(true)
	done2, _, ok2 := d.Admit(true)
	if !ok1 || !ok2 {
		t.Fatal("the first two calls were refused")
	}
	if _, why, ok := d.Admit(true); ok || why != ReasonSetups {
		t.Fatalf("third call while two are set up: admitted %v, reason %q; want refused for setups", ok, why)
	}
	if on, why, _ := d.Refusing(); !on || why != ReasonSetups {
		t.Errorf("Refusing() = %v, %q at the bound; want true, setups", on, why)
	}
	if got := d.SetupShare(); got != 1 {
		t.Errorf("setup share %v at the bound, want 1", got)
	}
	done1()
	done1()
	if d.Setups() != 1 {
		t.Fatalf("setups %d after one done twice, want 1", d.Setups())
	}
	if on, _, _ := d.Refusing(); on {
		t.Error("Refusing() under the bound")
	}
	done3, _, ok3 := d.Admit(true)
	if !ok3 {
		t.Fatal("refused after a setup ended")
	}
	done2()
	done3()
	// Shedding refuses before counting.
	d.Update(time.Unix(0, 0), Reading{Pressure: 1})
	d.Update(time.Unix(0, int64(100*time.Millisecond)), Reading{Pressure: 1})
	if _, why, ok := d.Admit(true); ok || why != ReasonPressure || d.Setups() != 0 {
		t.Fatalf("while shedding: admitted %v, reason %q, setups %d", ok, why, d.Setups())
	}
	var nd *Detector
	if done, _, ok := nd.Admit(true); !ok || done == nil {
		t.Fatal("a nil detector refused a call")
	}
}

// TestDetectorReleaseRamp: after Hold, with every signal under Release,
// the share of new calls refused falls a step each sample (Interval /
// ReleaseRamp), part of the new calls are admitted meanwhile, and a
// signal over its threshold during the ramp refuses every call again.
func TestDetectorReleaseRamp(t *testing.T) {
	c := testConfig()
	c.ReleaseRamp = 400 * time.Millisecond // 4 samples of 100ms
	d := NewDetector(c)
	t0 := time.Unix(1000, 0)
	full := Reading{Pressure: 1}
	step(d, t0, full, full)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	st := d.Update(at(2200), Reading{})
	if !st.Shedding || st.Share < 0.74 || st.Share > 0.76 {
		t.Fatalf("first sample after hold: %+v, want shedding with share 0.75", st)
	}
	if refused := refusedOf(d, 2000); refused < 1300 || refused > 1700 {
		t.Errorf("%d of 2000 new calls refused at share 0.75", refused)
	}
	if st := d.Update(at(2300), full); !st.Shedding || st.Share != 1 || !st.Since.Equal(at(2300)) {
		t.Fatalf("overloaded again during the ramp: %+v, want share 1 and hold from now", st)
	}
	for i, ms := range []int{4300, 4400, 4500} {
		if st := d.Update(at(ms), Reading{}); !st.Shedding {
			t.Fatalf("ramp step %d: shedding stopped early: %+v", i, st)
		}
	}
	if st := d.Update(at(4600), Reading{}); st.Shedding || st.Share != 0 {
		t.Fatalf("end of the ramp: %+v, want shedding over", st)
	}
	if on, _, _ := d.Refusing(); on {
		t.Fatal("a new call refused after the ramp")
	}
}

// refusedOf asks d about n new calls and returns how many it refused.
func refusedOf(d *Detector, n int) int {
	refused := 0
	for range n {
		if on, _, _ := d.Refusing(); on {
			refused++
		}
	}
	return refused
}

// TestDetectorRefusesTheExcess: shedding refuses Cut of the new calls at
// first and cuts the admitted ones again only once a reaction time
// (Confirm samples) has passed with a signal still over; under Release
// after Hold the share falls a step per sample, and a signal over during
// that fall cuts again from where the share stood. Cut 1 refuses all.
func TestDetectorRefusesTheExcess(t *testing.T) {
	c := testConfig()
	c.ReleaseRamp = time.Second // 0.1 a sample
	d := NewDetector(c)
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	full := Reading{SocketBacklog: 0.6, CPU: 0.5}
	approx := func(got, want float64) bool { return got > want-1e-6 && got < want+1e-6 }
	st := step(d, t0, full, full) // over at 0 and 100 ms: shedding from 100 ms
	if !st[1].Shedding || !approx(st[1].Share, 0.5) || !st[1].Since.Equal(at(100)) {
		t.Fatalf("start: %+v, want half of the new calls refused from 100ms", st[1])
	}
	if refused := refusedOf(d, 4000); refused < 1800 || refused > 2200 {
		t.Errorf("%d of 4000 new calls refused at share 0.5, want about half", refused)
	}
	// A call the door let through is not drawn again by Admit: about
	// half are refused in all, not three quarters.
	judged := 0
	for range 4000 {
		if on, _, _ := d.Refusing(); on {
			judged++
		} else if done, _, ok := d.Admit(false); !ok {
			judged++
		} else {
			done()
		}
	}
	if judged < 1800 || judged > 2200 {
		t.Errorf("at share 0.5, %d of 4000 calls refused at the door and then by Admit, want about half", judged)
	}
	// Still over 100 ms later: too soon to judge the cut.
	if st := d.Update(at(200), full); !approx(st.Share, 0.5) {
		t.Fatalf("cut again before the reaction time: %+v", st)
	}
	// Still over a reaction time (200 ms) after the cut: half of the
	// admitted calls refused too.
	if st := d.Update(at(300), full); !approx(st.Share, 0.75) || !st.Since.Equal(at(300)) {
		t.Fatalf("second cut: %+v, want share 0.75 from 300ms", st)
	}
	// Between Release and the threshold: the share stands.
	if st := d.Update(at(2400), Reading{SocketBacklog: 0.2, CPU: 0.5}); !approx(st.Share, 0.75) {
		t.Fatalf("over the release share: %+v, want the share to stand", st)
	}
	// Quiet, Hold after the last cut: a step of 0.1 per sample.
	d.Update(at(2300), Reading{})
	if st := d.Update(at(2400), Reading{}); !approx(st.Share, 0.55) {
		t.Fatalf("falling: %+v, want 0.55 after two steps", st)
	}
	// Over again while falling: the admitted 45% are cut by half.
	if st := d.Update(at(2500), full); !approx(st.Share, 0.775) || !st.Since.Equal(at(2500)) {
		t.Fatalf("over again while falling: %+v, want 0.775", st)
	}
	for ms := 4500; ms < 4500+700; ms += 100 { // 0.775 falls to 0.075
		if st := d.Update(at(ms), Reading{}); !st.Shedding {
			t.Fatalf("stopped at %dms with share left: %+v", ms, st)
		}
	}
	if st := d.Update(at(5200), Reading{}); st.Shedding || st.Share != 0 {
		t.Fatalf("end of the fall: %+v, want shedding over", st)
	}

	// Cut 1: every new call refused at once, as the pressure file does
	// with any cut.
	c.Cut = 1
	for _, r := range []Reading{full, {Pressure: 1}} {
		d := NewDetector(c)
		if st := step(d, t0, r, r); !st[1].Shedding || st[1].Share != 1 {
			t.Errorf("cut 1, %+v: %+v, want every new call refused", r, st[1])
		}
	}
	c.Cut = 0.5
	d = NewDetector(c)
	step(d, t0, full, full)
	if st := d.Update(at(200), Reading{Pressure: 1}); st.Share != 1 || st.Reason != ReasonPressure {
		t.Errorf("pressure while shedding at half: %+v, want every new call refused at once", st)
	}
}

// TestUsableCoresAtMostTheCPUs: with GOMAXPROCS above the CPU count the
// CPU share is measured against the CPUs, so min_cpu and cpu keep their
// meaning (a process on 2 CPUs with GOMAXPROCS 4 can use 2 cores).
func TestUsableCoresAtMostTheCPUs(t *testing.T) {
	prev := runtime.GOMAXPROCS(runtime.NumCPU() + 2)
	defer runtime.GOMAXPROCS(prev)
	if got := usableCores(); got != float64(runtime.NumCPU()) {
		t.Errorf("usableCores with GOMAXPROCS %d on %d CPUs = %v, want %d", runtime.NumCPU()+2, runtime.NumCPU(), got, runtime.NumCPU())
	}
	runtime.GOMAXPROCS(1)
	if got := usableCores(); got != 1 {
		t.Errorf("usableCores with GOMAXPROCS 1 = %v, want 1", got)
	}
}

// TestStandingBacklog: the socket backlog that counts is the least the
// probes read over the interval and at its end: a queue the reader
// drained at some point of the interval (a burst, a short stall) is not
// overload; one that stood above the threshold throughout is. Real
// sockets: datagrams nobody reads stand; once read, the next interval's
// backlog is empty.
func TestStandingBacklog(t *testing.T) {
	rx, send := udpPair(t)
	m := NewMonitor(NewDetector(testConfig()), Sources{Sockets: []syscall.Conn{rx}})
	probe := m.noteBacklog // what each probe does with the sockets

	// A burst arrives after the interval's first probes: it did not stand.
	probe()
	probe()
	send(20)
	probe()
	if now := m.socketBacklog(); now <= 0.1 {
		t.Fatalf("backlog now %v with 20 KB queued, want above 0.1", now)
	}
	if got := m.standingBacklog(m.socketBacklog()); got != 0 {
		t.Errorf("standing backlog %v for a queue that built up within the interval, want 0", got)
	}
	// Nobody reads through the next interval: it stands.
	probe()
	probe()
	send(5)
	probe()
	if got := m.standingBacklog(m.socketBacklog()); got <= 0.1 {
		t.Errorf("standing backlog %v for a queue that stood all interval, want above 0.1", got)
	}
	// No probe ran (the process got no core): the reading at the end counts.
	if got := m.standingBacklog(m.socketBacklog()); got <= 0.1 {
		t.Errorf("standing backlog %v with no probe in the interval, want the end's reading", got)
	}
	// The reader drains it mid-interval: not standing.
	probe()
	buf := make([]byte, 2000)
	for range 25 {
		if _, _, err := rx.ReadFromUDP(buf); err != nil {
			t.Fatal(err)
		}
	}
	probe()
	send(20)
	if got := m.standingBacklog(m.socketBacklog()); got != 0 {
		t.Errorf("standing backlog %v after the reader emptied the socket mid-interval, want 0", got)
	}
}

// TestMaxCPS: at most a tenth of a second's worth of new calls at once,
// then max_cps a second; a call that a door took the token of is not
// charged again by Admit.
func TestMaxCPS(t *testing.T) {
	d := NewDetector(Config{MaxCPS: 50})
	t0 := time.Unix(1000, 0)
	for i := range 5 { // the burst: 50/10
		if !d.TakeCall(t0) {
			t.Fatalf("call %d of the burst refused", i+1)
		}
	}
	if d.TakeCall(t0) {
		t.Fatal("a sixth call at once admitted, want refused (burst of 5)")
	}
	if d.TakeCall(t0.Add(19 * time.Millisecond)) {
		t.Fatal("a call 19 ms later admitted: 50 a second is one per 20 ms")
	}
	if !d.TakeCall(t0.Add(21 * time.Millisecond)) {
		t.Fatal("a call 21 ms later refused: 50 a second is one per 20 ms")
	}
	// A second of calls every 10 ms (100 a second): about half admitted.
	n := 0
	for i := 1; i <= 100; i++ {
		if d.TakeCall(t0.Add(21*time.Millisecond + time.Duration(i)*10*time.Millisecond)) {
			n++
		}
	}
	if n < 49 || n > 51 {
		t.Errorf("%d of 100 calls in a second admitted at max_cps 50, want 50", n)
	}
	// A clock that steps back refills nothing, and does not make the
	// next step forward refill more than its own time.
	last := t0.Add(1021 * time.Millisecond)
	if d.TakeCall(last.Add(-time.Second)) {
		t.Error("a call with the clock a second back admitted, want refused (the bucket is empty)")
	}
	if d.TakeCall(last.Add(10 * time.Millisecond)) {
		t.Error("a call 10 ms after the last admitted one was admitted at 50 a second")
	}
	// The bucket empty: Admit charges a call (no door), or not.
	d.now = func() time.Time { return t0.Add(1021 * time.Millisecond) }
	if _, why, ok := d.Admit(true); ok || why != ReasonMaxCPS || d.Setups() != 0 {
		t.Errorf("Admit(charge) with no token: ok=%v why=%q setups=%d, want refused for max_cps, none in setup", ok, why, d.Setups())
	}
	done, _, ok := d.Admit(false)
	if !ok {
		t.Fatal("Admit without charge (the door took the token) refused")
	}
	done()
	// No bound: every call admitted.
	free := NewDetector(Config{})
	for range 1000 {
		if !free.TakeCall(t0) {
			t.Fatal("max_cps 0 refused a call")
		}
	}
	// A reload sets a bound (SetMaxCPS), with a full burst, and takes it
	// out again.
	free.SetMaxCPS(20)
	if got := free.MaxCPS(); got != 20 {
		t.Errorf("MaxCPS() = %g after SetMaxCPS(20)", got)
	}
	admitted := 0
	for range 5 {
		if free.TakeCall(t0) {
			admitted++
		}
	}
	if admitted != 2 {
		t.Errorf("SetMaxCPS(20): %d of 5 calls at once admitted, want a burst of 2", admitted)
	}
	d.SetMaxCPS(0)
	for range 1000 {
		if !d.TakeCall(last) {
			t.Fatal("a call refused after SetMaxCPS(0)")
		}
	}
	if got := d.MaxCPS(); got != 0 {
		t.Errorf("MaxCPS() = %g after SetMaxCPS(0)", got)
	}
}

// TestMonitorRTPDelay: the monitor samples the RTP read delay: RTP
// packets that all waited 150 ms (100 ms default threshold) make Hotline
// shed for rtp_delay; a wait with no read behind it means nothing.
func TestMonitorRTPDelay(t *testing.T) {
	for _, tc := range []struct {
		reads int64
		shed  bool
	}{{0, false}, {3, true}} {
		c := testConfig()
		c.Interval, c.Confirm = 20*time.Millisecond, 1
		c.SchedulingLag, c.SocketBacklog, c.CPU, c.RecorderDrops = -1, -1, -1, -1
		d := NewDetector(c)
		m := NewMonitor(d, Sources{RTPDelay: func() (time.Duration, int64) { return 150 * time.Millisecond, tc.reads }})
		runMonitor(m, 200*time.Millisecond) // ten samples
		on, why := d.Shedding()
		if on != tc.shed || (tc.shed && why != ReasonRTPDelay) {
			t.Errorf("RTP read delay 150ms over %d reads: shedding %v (%q), want %v for rtp_delay", tc.reads, on, why, tc.shed)
		}
	}
}

// TestDetectorLearnsARate (learn, on by default): shedding starts with a
// rate learned from the new calls admitted in the last second, less Cut.
// Once the share refused is back to none, new calls past that rate are
// refused with the overload's reason instead of the whole offered load
// being let in again; a trip then cuts the rate, not a share of the
// calls; the rate rises while it refuses calls and the signals are
// quiet, and is forgotten once it has refused none for five Holds.
// learn: false releases to every call.
func TestDetectorLearnsARate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	full := Reading{SocketBacklog: 0.6, CPU: 0.5}
	// 40 new calls a sample (400 a second) before the trip.
	run := func(c Config) (*Detector, State) { return firstTrip(c, 40) }
	d, st := run(testConfig())
	if !st.Shedding || st.Share != 0.5 || st.Learned != 200 {
		t.Fatalf("trip: %+v, want half refused and a learned rate of 200 (400 admitted a second, less half)", st)
	}
	// Quiet for Hold: the share is released at once (no ramp), the
	// learned rate stays.
	for ms := 1200; ms <= 3100; ms += 100 {
		st = d.Update(at(ms), Reading{})
	}
	if st.Shedding || st.Learned != 200 {
		t.Fatalf("released: %+v, want no share refused and the learned rate 200", st)
	}
	// 1,000 calls a second offered: a tenth of a second's worth of the
	// rate at first, then the rate, each refused past it with the
	// overload's reason.
	if ok := admit(d, at(3200), 100); ok != 20 {
		t.Errorf("%d of 100 new calls admitted at once at a learned 200/s, want 20 (its burst)", ok)
	}
	if ok, why := d.TakeLearned(at(3200)); ok || why != ReasonSocketBacklog {
		t.Errorf("past the learned rate: %v, %q; want refused by socket_backlog", ok, why)
	}
	// It refuses calls while every signal is quiet: it rises, slowly
	// (a fiftieth a second, a five-hundredth a sample) as it is near the
	// only reference it has, itself: the rate admitted at a first trip
	// is whatever load started it.
	for ms := 3200; ms <= 4000; ms += 100 {
		if ms > 3200 {
			admit(d, at(ms), 100)
		}
		st = d.Update(at(ms), Reading{})
	}
	if want := 200 * math.Pow(1.002, 9); st.Learned <= 200 || st.Learned > want+1e-6 {
		t.Fatalf("after 9 samples refusing calls, quiet: learned %g, want %g (a five-hundredth more each)", st.Learned, want)
	}
	// Signals between Release and the threshold: it stands.
	was := st.Learned
	admit(d, at(4100), 100)
	if st = d.Update(at(4100), Reading{SocketBacklog: 0.2, CPU: 0.5}); st.Learned != was {
		t.Fatalf("a signal over release: %g after %g, want the rate to stand", st.Learned, was)
	}
	risen := st.Learned
	// Overloaded again: the rate is cut (from the calls admitted, about
	// itself), and no share is refused.
	t0 = t0.Add(200 * time.Millisecond) // what follows as if from 4100 ms
	for ms := 4100; ms <= 4200; ms += 100 {
		admit(d, at(ms), 100)
		st = d.Update(at(ms), full)
	}
	if st.Shedding || st.Learned < risen*0.45 || st.Learned > risen*0.5 {
		t.Fatalf("tripped while learned %g: %+v, want the rate halved and no share", risen, st)
	}
	if on, _ := d.Shedding(); on {
		t.Error("a share refused after a trip under a learned rate, want the rate cut instead")
	}
	// Still over a sample later: too soon to cut again.
	cut := st.Learned
	if st = d.Update(at(4300), full); st.Learned != cut {
		t.Errorf("cut again 100ms later: %g, want %g until the reaction time", st.Learned, cut)
	}
	// Quiet again, refusing calls: now below four fifths of the rate
	// admitted at that trip (about risen), it rises a tenth a second (a
	// hundredth a sample) until it nears it.
	trip := min(risen, cut/0.5)
	for ms := 4400; ms <= 4600; ms += 100 {
		admit(d, at(ms), 100)
		was = st.Learned
		if st = d.Update(at(ms), Reading{}); ms > 4400 && (st.Learned < was*1.0099 || st.Learned > was*1.0101) {
			t.Fatalf("at %g, below four fifths of %g: %g, want a hundredth more a sample", was, trip, st.Learned)
		}
	}
	t0 = t0.Add(300 * time.Millisecond) // the forgetting below as if from 4300 ms
	// No call offered for five Holds: forgotten.
	for ms := 4400; ms < 4300+10000; ms += 100 {
		if st = d.Update(at(ms), Reading{}); st.Learned == 0 {
			t.Fatalf("learned rate dropped after %dms refusing none, want %s", ms-4300, 5*testConfig().Hold)
		}
	}
	if st = d.Update(at(14300), Reading{}); st.Learned != 0 {
		t.Errorf("learned rate %g after five Holds refusing none, want dropped", st.Learned)
	}
	if ok := admit(d, at(14400), 100); ok != 100 {
		t.Errorf("%d of 100 new calls admitted once the rate was dropped, want all", ok)
	}

	off := testConfig()
	no := false
	off.Learn = &no
	d, st = run(off)
	if !st.Shedding || st.Learned != 0 {
		t.Fatalf("learn: false, trip: %+v, want a share and no learned rate", st)
	}
	for ms := 1200; ms <= 3100; ms += 100 {
		st = d.Update(at(ms), Reading{})
	}
	if ok := admit(d, at(3200), 100); st.Shedding || ok != 100 {
		t.Errorf("learn: false, released: %+v, %d of 100 admitted; want every call", st, ok)
	}
}

// TestDetectorHoldsUnderTheRateThatTripped: after a trip under the
// learned rate (a rate shown too much), the rate rises back to nine
// tenths of the rate that tripped and stands there for 30 s of refusing
// calls with every signal quiet; then it rises past it again. After a
// first trip only (nothing shown too much) it rises on.
func TestDetectorHoldsUnderTheRateThatTripped(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	full := Reading{SocketBacklog: 0.6, CPU: 0.5}
	// Overloaded again under the learned rate (about 200): cut to half.
	d, st := underLearnedRate()
	var trip float64
	for ms := 4200; ms <= 4300; ms += 100 {
		admit(d, at(ms), 100)
		trip = st.Learned
		st = d.Update(at(ms), full)
	}
	if st.Learned > trip*0.5 || st.Learned < trip*0.45 {
		t.Fatalf("tripped under %g: learned %g, want it halved", trip, st.Learned)
	}
	// Quiet, refusing calls: it rises to nine tenths of the rate that
	// tripped (at most the rate in force, about 200; the rate admitted,
	// a second's, may be a little less) and no higher for 30 s.
	ms := 4400
	stands := func(trip float64) {
		t.Helper()
		top, reached, end := 0.0, 0, ms+120_000
		for ; ms < end; ms += 100 {
			admit(d, at(ms), 100)
			st = d.Update(at(ms), Reading{})
			if st.Learned > top+1e-9 {
				if reached > 0 && ms-reached > 100 {
					break // it stood, then rose
				}
				top, reached = st.Learned, ms
			}
		}
		if ms >= end {
			t.Fatalf("the learned rate never rose past %g in 2 minutes of refusing calls", top)
		}
		if top < trip*0.88 || top > trip*0.92 {
			t.Fatalf("the learned rate stood at %g, want nine tenths of the rate that tripped, about %g", top, trip)
		}
		if held := ms - reached; held < 30_000 || held > 30_200 {
			t.Errorf("the learned rate stood at %g for %d ms before rising past it, want 30 s (trip %g)", top, held, trip)
		}
	}
	stands(trip)
	// Then it rises past it, at a fiftieth a second (the rate held
	// shows nothing about what is past it).
	was := st.Learned
	for range 10 {
		ms += 100
		admit(d, at(ms), 100)
		st = d.Update(at(ms), Reading{})
	}
	if want := was * math.Pow(1.002, 10); math.Abs(st.Learned-want) > 1e-6 {
		t.Errorf("past the hold: %g after 10 samples from %g, want %g (a five-hundredth a sample)", st.Learned, was, want)
	}
	// Overloaded again: cut, and it stands again under the new trip's rate.
	for range 2 {
		ms += 100
		admit(d, at(ms), 100)
		trip = st.Learned
		st = d.Update(at(ms), full)
	}
	if st.Learned > trip*0.5 || st.Learned < trip*0.45 {
		t.Fatalf("tripped again under %g: learned %g, want it halved", trip, st.Learned)
	}
	ms += 100
	stands(trip)

	// A first trip only: it rises past the rate learned, with no hold.
	d, st = firstTrip(testConfig(), 40)
	for ms := 1200; ms <= 3100; ms += 100 {
		st = d.Update(at(ms), Reading{})
	}
	first := st.Learned
	for ms := 3200; ms <= 3200+60_000; ms += 100 {
		admit(d, at(ms), 1000)
		st = d.Update(at(ms), Reading{})
	}
	if want := first * math.Pow(1.002, 601); math.Abs(st.Learned-want) > 1e-6*want {
		t.Errorf("after a first trip only, 60 s refusing calls: %g from %g, want %g (no hold)", st.Learned, first, want)
	}
}

// TestDetectorCutsTheLearnedRateOncePerOverload: a trip under the
// learned rate cuts it once; signals still over after the cut (the queue
// the overshoot left) cut it again only after Hold, or once they have
// eased and tripped anew.
func TestDetectorCutsTheLearnedRateOncePerOverload(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	full := Reading{SocketBacklog: 0.6, CPU: 0.5}
	d, st := underLearnedRate()
	// Over from 4200: cut at the second sample (confirm 2).
	was := st.Learned
	ms := 4200
	for ; ms <= 4300; ms += 100 {
		admit(d, at(ms), 100)
		st = d.Update(at(ms), full)
	}
	cut := st.Learned
	if cut > was*0.5 || cut < was*0.45 {
		t.Fatalf("tripped under %g: learned %g, want it halved", was, cut)
	}
	// Still over, under Hold (2 s) after the cut: no more cuts.
	for ; ms < 4300+2000; ms += 100 {
		admit(d, at(ms), 100)
		if st = d.Update(at(ms), full); st.Learned != cut {
			t.Fatalf("%d ms after the cut, still over: learned %g, want %g (one cut until Hold)", ms-4300, st.Learned, cut)
		}
	}
	// Over for Hold after it: not enough, cut again.
	admit(d, at(ms), 100)
	if st = d.Update(at(ms), full); st.Learned > cut*0.5 || st.Learned < cut*0.45 {
		t.Fatalf("over for Hold after the cut: learned %g, want %g halved", st.Learned, cut)
	}
	cut = st.Learned
	// Eased for a sample, then over for confirm samples: a new overload,
	// cut at once (Hold or not).
	ms += 100
	st = d.Update(at(ms), Reading{})
	for range 2 {
		ms += 100
		admit(d, at(ms), 100)
		st = d.Update(at(ms), full)
	}
	if st.Learned > cut*0.5 || st.Learned < cut*0.45 {
		t.Fatalf("eased, then over again %d ms after the cut: learned %g, want %g halved", 300, st.Learned, cut)
	}
}

// TestDetectorLearnsFromACleanRun: a first trip after Hotline carried a
// rate for 5 s with no signal over its threshold (a pause at 80% load: a garbage
// collection, the machine stalled) learns no less than four fifths of
// that rate, not half of what the pause let through in the last second;
// it then rises slowly, as near a rate that tripped. With a shorter
// clean run before the trip (a cold start, a load that began just now)
// it learns from the last second as ever.
func TestDetectorLearnsFromACleanRun(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	full := Reading{SocketBacklog: 0.6, CPU: 0.5}
	// clean ms of 400 calls a second, no signal over its threshold (one
	// over Release every second, as a collection's bump), after a
	// sample over the threshold; then a pause: two samples over the
	// threshold admitting 5 calls each.
	run := func(clean int) State {
		d := NewDetector(testConfig())
		d.Update(at(0), full)
		ms := 100
		for ; ms <= clean; ms += 100 {
			admit(d, at(ms), 40)
			r := Reading{}
			if ms%1000 == 0 {
				r = Reading{SocketBacklog: 0.2, CPU: 0.5}
			}
			d.Update(at(ms), r)
		}
		var st State
		for end := ms + 100; ms <= end; ms += 100 {
			admit(d, at(ms), 5)
			st = d.Update(at(ms), full)
		}
		return st
	}
	// The last second: 8 samples of 40 and 2 of 5, 330 calls.
	if st := run(6000); !st.Shedding || st.Learned != 320 {
		t.Errorf("a pause after 6 s at 400 a second: %+v, want shedding and a learned rate of 320 (four fifths of 400, not half of 330)", st)
	}
	if st := run(3000); !st.Shedding || st.Learned != 165 {
		t.Errorf("a trip after 3 s at 400 a second: %+v, want shedding and a learned rate of 165 (half of the last second's 330)", st)
	}
}

// TestDetectorRemembersAConfirmedRate: with LearnMemory (10m here), a
// learned rate that a trip under it confirmed stays in force once the
// overload is over, then is forgotten; so
// that a surge after it is admitted at that rate from its first calls,
// instead of whole until a signal trips; it rises as ever while it
// refuses calls with every signal quiet. A rate learned from one trip
// only (the offered load of whatever started it) is forgotten as before,
// and so is every rate without LearnMemory (the default).
func TestDetectorRemembersAConfirmedRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	full := Reading{SocketBacklog: 0.6, CPU: 0.5}
	// overload: 800 new calls a second offered; a signal over its
	// threshold for 1.1 s from 1 s (the first trip: learned 400, half of
	// what was admitted), quiet, then over again from 4.5 s for 0.2 s
	// (the second trip, under the learned rate: confirmed if confirm);
	// then no call offered until 20 s.
	overload := func(c Config, confirm bool) (*Detector, State) {
		d := NewDetector(c)
		var st State
		for ms := 0; ms <= 6000; ms += 100 {
			admit(d, at(ms), 80)
			r := Reading{}
			if (ms >= 1000 && ms <= 2100) || (confirm && ms >= 4500 && ms <= 4600) {
				r = full
			}
			st = d.Update(at(ms), r)
		}
		for ms := 6100; ms <= 20000; ms += 100 {
			st = d.Update(at(ms), Reading{})
		}
		return d, st
	}
	mem := testConfig()
	mem.LearnMemory = 10 * time.Minute
	d, st := overload(mem, true)
	if st.Learned == 0 || !st.Remembered {
		t.Fatalf("14 s after a confirmed overload: %+v, want its learned rate remembered", st)
	}
	kept := st.Learned
	if kept >= 400 {
		t.Fatalf("remembered %g, want the rate cut at the second trip (under 400)", kept)
	}
	// A surge of 1,000 calls a second: a tenth of a second's worth of the
	// rate at first, then the rate; the rest refused with the reason of
	// the overload that set it.
	want := int(kept / 10)
	if ok := admit(d, at(20100), 100); ok < want-1 || ok > want+1 {
		t.Errorf("%d of 100 new calls admitted at once at a remembered %g/s, want %d (its burst)", ok, kept, want)
	}
	if ok, why := d.TakeLearned(at(20100)); ok || why != ReasonSocketBacklog {
		t.Errorf("past the remembered rate: %v, %q; want refused by socket_backlog", ok, why)
	}
	// Refusing calls, every signal quiet: no longer only remembered, and
	// it rises.
	for ms := 20100; ms <= 21000; ms += 100 {
		admit(d, at(ms), 100)
		st = d.Update(at(ms), Reading{})
	}
	if st.Remembered || st.Learned <= kept {
		t.Errorf("a surge past the remembered rate for 1 s, quiet: %+v, want it in force again, risen from %g", st, kept)
	}

	// A reload that sets max_cps drops a remembered rate (the operator's
	// bound stands instead), not one in force during an overload.
	d, _ = overload(mem, true)
	d.SetMaxCPS(300)
	if st = d.Update(at(20100), Reading{}); st.Learned != 0 || st.Remembered {
		t.Errorf("max_cps set while a rate was remembered: %+v, want it dropped", st)
	}
	d, st = firstTrip(mem, 80)
	if st.Learned == 0 {
		t.Fatalf("at a trip: %+v, want a learned rate in force", st)
	}
	d.SetMaxCPS(300)
	if st = d.Update(at(1200), full); st.Learned == 0 {
		t.Errorf("max_cps set during an overload: %+v, want its learned rate kept", st)
	}

	// A trip while the rate is only remembered (100 calls a second, under
	// it: a pause, another program's load): a new overload, not a cut of
	// the remembered rate. A share is refused, the rate is learned from
	// the last second, and, tripped once, it is forgotten after five
	// Holds.
	d, _ = overload(mem, true)
	for ms := 20100; ms <= 21200; ms += 100 {
		admit(d, at(ms), 10)
		r := Reading{}
		if ms > 21000 {
			r = full
		}
		st = d.Update(at(ms), r)
	}
	if !st.Shedding || st.Share != 0.5 || st.Remembered || st.Learned != 50 {
		t.Errorf("a trip at 100 calls a second under a remembered rate: %+v, want half refused and a learned rate of 50 (100 a second, less half)", st)
	}
	for ms := 21300; ms <= 40000; ms += 100 {
		st = d.Update(at(ms), Reading{})
	}
	if st.Learned != 0 || st.Remembered {
		t.Errorf("19 s after that trip, quiet: %+v, want the learned rate dropped (one trip)", st)
	}

	// One trip only: forgotten after five Holds, as without memory.
	if _, st := overload(mem, false); st.Learned != 0 || st.Remembered {
		t.Errorf("14 s after an overload with one trip: %+v, want the learned rate dropped", st)
	}
	// No LearnMemory (the default): forgotten after five Holds.
	if _, st := overload(testConfig(), true); st.Learned != 0 || st.Remembered {
		t.Errorf("learn_memory off (the default), 14 s after a confirmed overload: %+v, want the learned rate dropped", st)
	}
}

// TestDetectorQueueRefusals: new calls the doors refuse for a queue
// (socket_delay, max_setups) are a signal: QueueRefused of them in each
// of Confirm samples in a row start shedding with that reason and learn
// a rate, whoever holds the cores; one sample's do not, nor do any with
// the signal off. NoteQueueRefused counts those two reasons only, and
// Admit its own refusals for max_setups.
func TestDetectorQueueRefusals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	run := func(c Config, refused ...Reading) State {
		d := NewDetector(c)
		var st State
		ms := 0
		for ; ms < 1000; ms += 100 {
			admit(d, at(ms), 40)
			st = d.Update(at(ms), Reading{})
		}
		for _, r := range refused {
			admit(d, at(ms), 40)
			st = d.Update(at(ms), r)
			ms += 100
		}
		return st
	}
	delay, setups := Reading{DelayRefused: 3, CPU: 0.1}, Reading{SetupsRefused: 1, CPU: 0.1}
	if st := run(testConfig(), delay, delay); !st.Shedding || st.Reason != ReasonSocketDelay || st.Learned != 200 {
		t.Errorf("refusals for socket_delay in two samples: %+v, want shedding for socket_delay and a learned rate of 200", st)
	}
	if st := run(testConfig(), setups, setups); !st.Shedding || st.Reason != ReasonSetups {
		t.Errorf("refusals for max_setups in two samples: %+v, want shedding for setups", st)
	}
	if st := run(testConfig(), delay, Reading{}, setups); st.Shedding || st.Learned != 0 {
		t.Errorf("refusals in samples apart: %+v, want no shedding (confirm 2)", st)
	}
	off := testConfig()
	off.QueueRefused = -1
	if st := run(off, delay, delay, setups, setups); st.Shedding || st.Saturation > 0.2 {
		t.Errorf("queue_refused off: %+v, want no shedding (the saturation of the CPU alone, 0.1 of 0.9)", st)
	}

	d := NewDetector(testConfig())
	for _, why := range Reasons() {
		d.NoteQueueRefused(why)
	}
	if dl, su := d.QueueRefused(); dl != 1 || su != 1 {
		t.Errorf("every reason noted once: %d for socket_delay, %d for setups counted; want 1 and 1, no other reason", dl, su)
	}
	c := testConfig()
	c.MaxSetups = 1
	d = NewDetector(c)
	if _, _, ok := d.Admit(true); !ok {
		t.Fatal("first call refused")
	}
	if _, why, ok := d.Admit(true); ok || why != ReasonSetups {
		t.Fatalf("second call while the first is in setup: %v %q, want refused for setups", ok, why)
	}
	if dl, su := d.QueueRefused(); dl != 0 || su != 1 {
		t.Errorf("after Admit refused one call for max_setups: %d, %d counted; want 0 and 1", dl, su)
	}
}

// underLearnedRate returns a detector after firstTrip(testConfig(), 40)
// (a learned rate of 200), quiet until 3.1 s (the share released), then
// offered 1,000 calls a second for a second (to 4.1 s), quiet, its
// learned rate refusing the excess; and its state then.
func underLearnedRate() (*Detector, State) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	d, st := firstTrip(testConfig(), 40)
	for ms := 1200; ms <= 3100; ms += 100 {
		st = d.Update(at(ms), Reading{})
	}
	for ms := 3200; ms <= 4100; ms += 100 {
		admit(d, at(ms), 100)
		st = d.Update(at(ms), Reading{})
	}
	return d, st
}

// firstTrip returns a detector for c fed perSample new calls a sample
// from time.Unix(1000, 0) to 1.1 s later, with a signal over its
// threshold from 1 s (the first trip), and its state then.
func firstTrip(c Config, perSample int) (*Detector, State) {
	t0 := time.Unix(1000, 0)
	d := NewDetector(c)
	var st State
	for ms := 0; ms <= 1100; ms += 100 {
		at := t0.Add(time.Duration(ms) * time.Millisecond)
		admit(d, at, perSample)
		r := Reading{}
		if ms >= 1000 {
			r = Reading{SocketBacklog: 0.6, CPU: 0.5}
		}
		st = d.Update(at, r)
	}
	return d, st
}

// admit offers n new calls to d's learned rate at now and returns how
// many it let through.
func admit(d *Detector, now time.Time, n int) (ok int) {
	for range n {
		if a, _ := d.TakeLearned(now); a {
			ok++
		}
	}
	return ok
}

// TestDetectorStorage: call records held in memory, or a recording spool
// under its free-space floor, refuse every new call (no share, no learned
// rate), are named before a rate signal over its threshold at the same
// time, and release once the records are kept or twice the floor is free.
func TestDetectorStorage(t *testing.T) {
	const mib = 1 << 20
	c := testConfig()
	c.RecordsHeld, c.SpoolFreeMB = 1, 256
	floor := uint64(c.SpoolFreeMB) * mib
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name       string
		over       Reading
		hysteresis Reading // under the threshold, over Release: still shedding
		quiet      Reading
		want       Reason
	}{
		{"records held", Reading{RecordsHeld: 40, CPU: 0.95}, Reading{RecordsHeld: 0}, Reading{}, ReasonRecordsHeld},
		{"spool full", Reading{SpoolFree: floor - mib, SpoolKnown: true, CPU: 0.95},
			Reading{SpoolFree: floor + floor/2, SpoolKnown: true}, Reading{SpoolFree: 3 * floor, SpoolKnown: true}, ReasonSpoolFree},
	} {
		d := NewDetector(c)
		st := step(d, t0, tc.over, tc.over)
		if !st[1].Shedding || st[1].Reason != tc.want || st[1].Share != 1 || st[1].Learned != 0 {
			t.Errorf("%s: %+v, want every new call refused for %s, no learned rate", tc.name, st[1], tc.want)
		}
		if ok, why, _ := d.Refusing(); !ok || why != tc.want {
			t.Errorf("%s: Refusing() = %v %s, want refused for %s", tc.name, ok, why, tc.want)
		}
		if tc.name == "spool full" {
			if st := d.Update(at(3000), tc.hysteresis); !st.Shedding {
				t.Errorf("%s: released with less than twice the floor free: %+v", tc.name, st)
			}
		}
		if st := d.Update(at(3100), tc.quiet); st.Shedding {
			t.Errorf("%s: still shedding once kept: %+v", tc.name, st)
		}
		if d.Learned() != 0 {
			t.Errorf("%s: a learned rate after a storage overload: %v", tc.name, d.Learned())
		}
	}
	// Off (negative), or the spool's free space unknown: nothing shed.
	off := testConfig()
	off.RecordsHeld, off.SpoolFreeMB = -1, -1
	d := NewDetector(off)
	r := Reading{RecordsHeld: 1000, SpoolFree: 0, SpoolKnown: true}
	if st := step(d, t0, r, r, r); st[2].Shedding {
		t.Errorf("records_held and spool_free off: %+v", st[2])
	}
	d = NewDetector(c)
	r = Reading{SpoolFree: 0}
	if st := step(d, t0, r, r, r); st[2].Shedding {
		t.Errorf("spool free space unknown: %+v", st[2])
	}
	// The defaults: records held up to a bound go on, the spool's free
	// space is not judged.
	d = NewDetector(testConfig())
	r = Reading{RecordsHeld: 49999, SpoolFree: 0, SpoolKnown: true}
	if st := step(d, t0, r, r, r); st[2].Shedding {
		t.Errorf("defaults, %+v: %+v, want calls admitted", r, st[2])
	}
	r = Reading{RecordsHeld: 50000}
	if st := step(d, t0.Add(time.Second), r, r); !st[1].Shedding || st[1].Reason != ReasonRecordsHeld {
		t.Errorf("defaults, %+v: %+v, want shedding for records_held", r, st[1])
	}
	// Shedding half on the CPU: held records refuse every call at once.
	d = NewDetector(c)
	cpu := Reading{CPU: 0.95}
	step(d, t0, cpu, cpu)
	if st := d.Update(at(200), Reading{RecordsHeld: 1, CPU: 0.95}); st.Share != 1 || st.Reason != ReasonRecordsHeld {
		t.Errorf("records held while shedding on the CPU: %+v, want every new call refused for records_held", st)
	}
}

// TestMonitorStorage: the monitor samples the records held and, only when
// spool_free_mb is set, the spool's free space (a statfs it would
// otherwise do for nothing every sample).
func TestMonitorStorage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		held      int
		floorMB   int
		shed      Reason
		statfsRun bool
	}{
		{"records held", 1, 0, ReasonRecordsHeld, false},
		{"spool floor off", 0, 0, "", false},
		{"spool under its floor", 0, 256, ReasonSpoolFree, true},
	} {
		c := testConfig()
		c.Interval, c.Confirm = 20*time.Millisecond, 1
		c.SchedulingLag, c.SocketBacklog, c.CPU, c.RecorderDrops = -1, -1, -1, -1
		c.RecordsHeld, c.SpoolFreeMB = 1, tc.floorMB
		d := NewDetector(c)
		var statfs atomic.Int64
		m := NewMonitor(d, Sources{
			RecordsHeld: func() int { return tc.held },
			SpoolFree:   func() (uint64, bool) { statfs.Add(1); return 1 << 20, true },
		})
		runMonitor(m, 200*time.Millisecond) // ten samples
		on, why := d.Shedding()
		if on != (tc.shed != "") || why != tc.shed {
			t.Errorf("%s: shedding %v (%q), want %q", tc.name, on, why, tc.shed)
		}
		if ran := statfs.Load() > 0; ran != tc.statfsRun {
			t.Errorf("%s: the spool's free space read %d times, want read: %v", tc.name, statfs.Load(), tc.statfsRun)
		}
	}
}

// runMonitor runs m for d, then stops it and waits for it to return.
func runMonitor(m *Monitor, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	time.Sleep(d)
	cancel()
	<-done
}
