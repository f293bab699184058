package main

import (
	"math"
	"testing"
	"time"
)

func TestBucketQuantile(t *testing.T) {
	text := `# TYPE hotline_calls_refused_seconds histogram
hotline_calls_refused_seconds_bucket{le="0.001"} 90
hotline_calls_refused_seconds_bucket{le="0.01"} 99
hotline_calls_refused_seconds_bucket{le="0.1"} 100
hotline_calls_refused_seconds_bucket{le="+Inf"} 100
hotline_calls_refused_seconds_sum 0.5
hotline_calls_refused_seconds_count 100
`
	before := map[float64]float64{0.001: 10, 0.01: 10, 0.1: 10, math.Inf(1): 10}
	after := parseBuckets(text, "hotline_calls_refused_seconds")
	if len(after) != 4 || after[math.Inf(1)] != 100 {
		t.Fatalf("parsed %v", after)
	}
	// 90 new observations: 80 under 1 ms, 89 under 10 ms, all under 100 ms.
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, time.Millisecond}, {0.95, 10 * time.Millisecond}, {0.99, 100 * time.Millisecond}} {
		if got := bucketQuantile(before, after, tc.q); got != tc.want {
			t.Errorf("q %g: %s, want %s", tc.q, got, tc.want)
		}
	}
	if got := bucketQuantile(after, after, 0.99); got != 0 {
		t.Errorf("no new observations: %s, want 0", got)
	}
	over := map[float64]float64{0.001: 0, 0.1: 0, math.Inf(1): 5}
	if got := bucketQuantile(nil, over, 0.99); got != 100*time.Millisecond {
		t.Errorf("all past the last bound: %s, want that bound (100ms)", got)
	}
}

// TestParseBucketsLabels: a labelled histogram's buckets are summed over
// its series, or taken from the series with a label's value.
func TestParseBucketsLabels(t *testing.T) {
	text := `hotline_sip_socket_wait_seconds_bucket{socket="invites",le="0.01"} 7
hotline_sip_socket_wait_seconds_bucket{socket="invites",le="+Inf"} 9
hotline_sip_socket_wait_seconds_bucket{socket="others",le="0.01"} 20
hotline_sip_socket_wait_seconds_bucket{socket="others",le="+Inf"} 20
hotline_sip_socket_wait_seconds_sum{socket="others"} 0.1
`
	all := parseBuckets(text, "hotline_sip_socket_wait_seconds")
	if all[0.01] != 27 || all[math.Inf(1)] != 29 || len(all) != 2 {
		t.Errorf("all series: %v, want 27 and 29", all)
	}
	inv := parseBucketsWhere(text, "hotline_sip_socket_wait_seconds", "socket", "invites")
	if inv[0.01] != 7 || inv[math.Inf(1)] != 9 {
		t.Errorf("invites: %v, want 7 and 9", inv)
	}
	if none := parseBucketsWhere(text, "hotline_sip_socket_wait_seconds", "socket", "shared"); len(none) != 0 {
		t.Errorf("shared: %v, want none", none)
	}
}

// TestLateRefusals: the refusals hotline_calls_refused_seconds did not
// time (the INVITE handler's) are the refusals by reason less the
// histogram's count, between two readings; nothing without a reading.
func TestLateRefusals(t *testing.T) {
	inf := math.Inf(1)
	before := stepMetrics{reasons: map[string]float64{"setups": 5}, refusal: map[float64]float64{0.01: 4, inf: 5}}
	after := stepMetrics{reasons: map[string]float64{"setups": 20, "socket_delay": 30}, refusal: map[float64]float64{0.01: 40, inf: 47}}
	if got := lateRefusals(before, after); got != 3 {
		t.Errorf("45 refused, 42 timed: %d late, want 3", got)
	}
	if got := lateRefusals(stepMetrics{}, after); got != 0 {
		t.Errorf("no first reading: %d late, want 0", got)
	}
}

// TestMediaCounts: a ramp step's ring-full and recorder-drop counts are
// the labelled series' and the plain counter's rise between two readings
// of Hotline's exposition; nothing when a reading failed.
func TestMediaCounts(t *testing.T) {
	text := func(ring, drop string) string {
		return `# TYPE hotline_rtp_kernel_packets_total counter
hotline_rtp_kernel_packets_total{result="relayed"} 9e+06
hotline_rtp_kernel_packets_total{result="ring_full"} ` + ring + `
hotline_rtp_kernel_packets_total{result="too_long"} 7
# TYPE hotline_recording_dropped_packets_total counter
hotline_recording_dropped_packets_total ` + drop + "\n"
	}
	read := func(s string) mediaCounts {
		return mediaCounts{ok: true, ringFull: sampleWhere(s, "hotline_rtp_kernel_packets_total", `result="ring_full"`),
			recDropped: sampleWhere(s, "hotline_recording_dropped_packets_total", "")}
	}
	before, after := read(text("12", "0")), read(text("1.2345e+06", "938"))
	if ring, drop := after.sub(before); ring != 1234488 || drop != 938 {
		t.Errorf("ring full %d, dropped %d; want 1234488, 938", ring, drop)
	}
	if ring, drop := after.sub(mediaCounts{}); ring != 0 || drop != 0 {
		t.Errorf("no first reading: ring full %d, dropped %d; want 0, 0", ring, drop)
	}
	if got := sampleWhere("hotline_calls_active 3\n", "hotline_rtp_kernel_packets_total", `result="ring_full"`); got != 0 {
		t.Errorf("no kernel relay: ring full %g, want 0", got)
	}
}
