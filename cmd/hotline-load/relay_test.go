package main

import "testing"

func TestParseLabelled(t *testing.T) {
	text := `# TYPE hotline_rtp_kernel_packets_total counter
hotline_rtp_kernel_packets_total{result="relayed"} 1.2345e+06
hotline_rtp_kernel_packets_total{result="ring_full"} 3
hotline_rtp_kernel_packets_total_other{result="relayed"} 9
hotline_rtp_packets_total{direction="in"} 5
`
	got := parseLabelled(text, "hotline_rtp_kernel_packets_total", "result")
	if len(got) != 2 || got["relayed"] != 1234500 || got["ring_full"] != 3 {
		t.Errorf("parsed %v, want relayed 1234500 and ring_full 3 only", got)
	}
	if got := parseLabelled(text, "hotline_nothing_total", "result"); len(got) != 0 {
		t.Errorf("parsed %v for a missing counter", got)
	}
}
