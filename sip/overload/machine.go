package overload

import (
	"bytes"
	"os"
	"strconv"
)

// machineTicks is the machine's CPU time from /proc/stat's first line
// (every CPU together), in clock ticks (USER_HZ): busy (user, nice,
// system, irq, softirq, steal) and total (busy, idle and iowait).
type machineTicks struct{ busy, total uint64 }

// userHZ is the unit of /proc/stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

// readMachineTicks reads /proc/stat; false where it cannot (not Linux).
func readMachineTicks() (machineTicks, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}, false
	}
	return parseMachineTicks(b)
}

// parseMachineTicks parses the "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal (guest time is inside user).
func parseMachineTicks(b []byte) (machineTicks, bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return machineTicks{}, false
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(string(f[i+1]), 10, 64)
		if err != nil {
			return machineTicks{}, false
		}
		v[i] = n
	}
	idle := v[3] + v[4]
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return machineTicks{busy: busy, total: busy + idle}, true
}

// machineWindow keeps the last reading of the machine's ticks and
// Hotline's CPU time. The signal is one sample's (100 ms by default:
// 20 ticks of /proc/stat on two CPUs), confirmed over confirm samples
// like the others: in the benchmark a one-second average let queues
// build before it tripped, and the 503s came 5 times later
// (bench/README.md).
type machineWindow struct {
	last machineTicks
	cpu  int64 // Hotline's CPU time at last, ns
	ok   bool
}

// add records a reading and returns the machine's busy share since the
// last one and Hotline's share of that busy time (0, 0 for the first
// reading, or when the ticks did not move).
func (w *machineWindow) add(t machineTicks, cpu int64) (busy, share float64) {
	o, c, had := w.last, w.cpu, w.ok
	w.last, w.cpu, w.ok = t, cpu, true
	if !had || t.total <= o.total || t.busy < o.busy {
		return 0, 0
	}
	b := t.busy - o.busy
	busy = float64(b) / float64(t.total-o.total)
	if b > 0 {
		share = min(1, max(0, float64(cpu-c)/1e9/(float64(b)/userHZ)))
	}
	return busy, share
}
