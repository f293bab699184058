package overload

import (
	"testing"
	"time"
)

// TestParseMachineTicks: busy is user, nice, system, irq, softirq and
// steal; idle and iowait are not; other lines and a malformed first line
// are not read.
func TestParseMachineTicks(t *testing.T) {
	stat := "cpu  100 5 50 800 20 3 7 15 0 0\ncpu0 50 2 25 400 10 1 3 7 0 0\nintr 1 2 3\n"
	got, ok := parseMachineTicks([]byte(stat))
	if !ok || got.busy != 180 || got.total != 1000 {
		t.Fatalf("parse = %+v, %v; want busy 180 of 1000", got, ok)
	}
	for _, bad := range []string{"", "intr 1 2\n", "cpu 1 2 3\n", "cpu  1 2 x 4 5 6 7 8 0 0\n"} {
		if _, ok := parseMachineTicks([]byte(bad)); ok {
			t.Errorf("parse(%q) succeeded", bad)
		}
	}
	if m, ok := readMachineTicks(); ok && m.total == 0 {
		t.Errorf("this machine's /proc/stat read as %+v", m)
	}
}

// TestDetectorMachineCPU: with machine_cpu 0.9, a machine 95% busy sheds
// (reason machine_cpu) when Hotline did at least machine_share (0.35) of
// that work, even while its own CPU is under min_cpu of its cores (the
// other programs' load follows its calls); the same machine busy mostly
// with other programs' work (a build) does not, and by default the
// signal is off.
func TestDetectorMachineCPU(t *testing.T) {
	t0 := time.Unix(1000, 0)
	on := testConfig()
	on.MachineCPU = 0.9
	d := NewDetector(on)
	mine := Reading{CPU: 0.45, MachineCPU: 0.95, HotlineShare: 0.5}
	st := step(d, t0, mine, mine)
	if !st[1].Shedding || st[1].Reason != ReasonMachineCPU {
		t.Fatalf("machine 95%% busy, half of it Hotline's: %+v, want shedding for machine_cpu", st[1])
	}
	d = NewDetector(on)
	theirs := Reading{CPU: 0.1, MachineCPU: 0.99, HotlineShare: 0.1}
	if st := step(d, t0, theirs, theirs, theirs); st[2].Shedding {
		t.Fatalf("machine busy with other programs' work: %+v, want no shedding", st[2])
	}
	d = NewDetector(testConfig()) // machine_cpu off by default
	if st := step(d, t0, mine, mine); st[1].Shedding {
		t.Fatalf("machine_cpu off (the default): %+v, want no shedding", st[1])
	}
}

// TestMachineWindow: the busy share is the last sample's, and Hotline's
// share is its CPU time over the machine's busy time in that sample;
// nothing for the first reading or when the ticks did not move.
func TestMachineWindow(t *testing.T) {
	var w machineWindow
	if b, s := w.add(machineTicks{busy: 100, total: 200}, 0); b != 0 || s != 0 {
		t.Fatalf("first reading: %v, %v; want nothing yet", b, s)
	}
	// Two CPUs, 100 ms: 20 ticks, 19 of them busy; Hotline used 95 ms of
	// CPU (half the busy time).
	if b, s := w.add(machineTicks{busy: 119, total: 220}, 95e6); b != 0.95 || s < 0.49 || s > 0.51 {
		t.Errorf("a sample 95%% busy, half of it Hotline's: busy %v, share %v", b, s)
	}
	if b, s := w.add(machineTicks{busy: 119, total: 220}, 95e6); b != 0 || s != 0 {
		t.Errorf("ticks that did not move: %v, %v; want nothing", b, s)
	}
	if b, s := w.add(machineTicks{busy: 129, total: 240}, 295e6); b != 0.5 || s != 1 {
		t.Errorf("Hotline's time over the machine's busy time is capped at 1: busy %v, share %v", b, s)
	}
}
