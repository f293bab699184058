package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const userHZ = 100

// ErrProcFormat is returned when a /proc file does not look as expected.
var ErrProcFormat = errors.New("unexpected /proc format")

// parseProcStatCPU returns utime+stime of a /proc/<pid>/stat line.
func parseProcStatCPU(data []byte) (time.Duration, error) {
	// The command (field 2) may contain spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no ')' in stat", ErrProcFormat)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %d fields after comm", ErrProcFormat, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: utime %q stime %q", ErrProcFormat, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// ProcCPU returns the CPU time (user + system) a process has used.
func ProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(data)
}

// parseStatusKB returns a "Name:   123 kB" field of /proc/<pid>/status
// (or /proc/meminfo) in bytes.
func parseStatusKB(data []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: no %s", ErrProcFormat, name)
}

// ProcRSS returns a process's resident set size in bytes.
func ProcRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(data, "VmRSS")
}

// parseSNMP returns the counters of one protocol line pair of
// /proc/net/snmp ("Udp: InDatagrams ..." then "Udp: 1 2 ...").
func parseSNMP(data []byte, proto string) (map[string]uint64, error) {
	prefix := proto + ":"
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, prefix))
		if names == nil {
			names = f
			continue
		}
		if len(f) != len(names) {
			return nil, fmt.Errorf("%w: %s: %d names, %d values", ErrProcFormat, proto, len(names), len(f))
		}
		out := make(map[string]uint64, len(f))
		for i, v := range f {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: %s %s=%q", ErrProcFormat, proto, names[i], v)
			}
			out[names[i]] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: no %s lines", ErrProcFormat, proto)
}

// UDPRcvbufErrors returns the system-wide count of UDP datagrams dropped
// because a socket's receive buffer was full.
func UDPRcvbufErrors() (uint64, error) {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	m, err := parseSNMP(data, "Udp")
	if err != nil {
		return 0, err
	}
	v, ok := m["RcvbufErrors"]
	if !ok {
		return 0, fmt.Errorf("%w: no Udp RcvbufErrors", ErrProcFormat)
	}
	return v, nil
}

// parseCPUStat returns busy and total jiffies of the "cpu" line of /proc/stat.
func parseCPUStat(data []byte) (busy, total uint64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		for i, v := range f[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("%w: cpu field %q", ErrProcFormat, v)
			}
			if i >= 8 { // guest and guest_nice are already in user and nice
				break
			}
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total, nil
	}
	return 0, 0, fmt.Errorf("%w: no cpu line", ErrProcFormat)
}

// MachineCPU returns busy and total CPU time of the whole machine so far.
func MachineCPU() (busy, total time.Duration, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	b, t, err := parseCPUStat(data)
	return time.Duration(b) * time.Second / userHZ, time.Duration(t) * time.Second / userHZ, err
}

// parseCPUModel returns the first "model name" of /proc/cpuinfo.
func parseCPUModel(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// parseProcStatPPID returns the parent process id of a /proc/<pid>/stat line.
func parseProcStatPPID(data []byte) (int, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no ')' in stat", ErrProcFormat)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 { // f[0] state, f[1] ppid
		return 0, fmt.Errorf("%w: %d fields after comm", ErrProcFormat, len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, fmt.Errorf("%w: ppid %q", ErrProcFormat, f[1])
	}
	return ppid, nil
}

// ProcTreeCPU returns the CPU time a process and its descendants still
// running have used (Kamailio's work is done by the children it forks).
func ProcTreeCPU(pid int) (time.Duration, error) {
	total, err := ProcCPU(pid)
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return total, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if pp, err := parseProcStatPPID(data); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if c, err := ProcCPU(p); err == nil {
			total += c
		}
		queue = append(queue, children[p]...)
	}
	return total, nil
}
