package main

import (
	"errors"
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis, as the kernel shows it.
	line := "4242 (hot line) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseProcStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Errorf("cpu = %v, want %v (utime 250 + stime 75 ticks)", got, want)
	}
	if _, err := parseProcStatCPU([]byte("4242 hotline S 1")); !errors.Is(err, ErrProcFormat) {
		t.Errorf("garbage: err = %v, want ErrProcFormat", err)
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\thotline\nVmPeak:\t  900000 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n"
	got, err := parseStatusKB([]byte(status), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	if got != 51200*1024 {
		t.Errorf("VmRSS = %d, want %d", got, 51200*1024)
	}
	if _, err := parseStatusKB([]byte(status), "VmSwap"); !errors.Is(err, ErrProcFormat) {
		t.Errorf("missing field: err = %v, want ErrProcFormat", err)
	}
}

func TestParseSNMP(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n" +
		"Udp: 60910 318 8060 65153 8061 2\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n" +
		"UdpLite: 0 0 0 0 0 0\n"
	m, err := parseSNMP([]byte(snmp), "Udp")
	if err != nil {
		t.Fatal(err)
	}
	if m["RcvbufErrors"] != 8061 || m["InDatagrams"] != 60910 || m["SndbufErrors"] != 2 {
		t.Errorf("Udp counters = %v", m)
	}
	m, err = parseSNMP([]byte(snmp), "UdpLite")
	if err != nil || m["RcvbufErrors"] != 0 {
		t.Errorf("UdpLite = %v, %v", m, err)
	}
	if _, err := parseSNMP([]byte("Udp: A B\nUdp: 1\n"), "Udp"); !errors.Is(err, ErrProcFormat) {
		t.Errorf("short value line: err = %v, want ErrProcFormat", err)
	}
}

func TestParseCPUStat(t *testing.T) {
	stat := "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n"
	busy, total, err := parseCPUStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	// busy = user+nice+system+irq+softirq+steal; idle and iowait excluded;
	// guest fields are not added twice.
	if busy != 160 || total != 980 {
		t.Errorf("busy, total = %d, %d; want 160, 980", busy, total)
	}
}

func TestParseCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
	if got := parseCPUModel([]byte(info)); got != "AMD EPYC 7B13" {
		t.Errorf("model = %q", got)
	}
	if got := parseCPUModel(nil); got != "unknown" {
		t.Errorf("empty cpuinfo: model = %q", got)
	}
}

func TestParseProcStatPPID(t *testing.T) {
	line := "4242 (hot line) x) S 17 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100\n"
	if got, err := parseProcStatPPID([]byte(line)); err != nil || got != 17 {
		t.Errorf("ppid = %d, %v; want 17", got, err)
	}
	if _, err := parseProcStatPPID([]byte("4242 (x) S")); !errors.Is(err, ErrProcFormat) {
		t.Errorf("short line: err = %v, want ErrProcFormat", err)
	}
}
