package main

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

func TestProbeRoundTrip(t *testing.T) {
	p := make([]byte, probeLen)
	encodeProbe(p, 7, 1600, 0xdeadbeef, 1_700_000_000_123_456_789, 42, 9)
	if p[0] != 0x80 || p[1] != 0 || binary.BigEndian.Uint16(p[2:]) != 7 || binary.BigEndian.Uint32(p[8:]) != 0xdeadbeef {
		t.Fatalf("bad RTP header % x", p[:12])
	}
	p[1] = 0x80 | 8 // a relay may rewrite the marker and payload type
	ns, id, gen, ok := decodeProbe(p)
	if !ok || ns != 1_700_000_000_123_456_789 || id != 42 || gen != 9 {
		t.Errorf("decode = %d %d %d %v", ns, id, gen, ok)
	}
	if _, _, _, ok := decodeProbe(p[:20]); ok {
		t.Error("short packet decoded")
	}
	p[0] = 0x90 // extension bit: not ours
	if _, _, _, ok := decodeProbe(p); ok {
		t.Error("packet with an extension decoded")
	}
}

func TestParseSDPAudio(t *testing.T) {
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
	got, err := parseSDPAudio([]byte(offer))
	if err != nil || got != netip.MustParseAddrPort("127.0.0.1:20000") {
		t.Errorf("session-level c=: %v, %v", got, err)
	}
	media := "v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 30000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\nm=audio 20002 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\n"
	got, err = parseSDPAudio([]byte(media))
	if err != nil || got != netip.MustParseAddrPort("127.0.0.2:20002") {
		t.Errorf("media-level c= of the audio stream: %v, %v", got, err)
	}
	for _, bad := range []string{"", "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"} {
		if _, err := parseSDPAudio([]byte(bad)); err == nil {
			t.Errorf("parseSDPAudio(%q) succeeded", bad)
		}
	}
	if _, err := parseSDPAudio(sdpOffer(5, 4242)); err != nil {
		t.Errorf("our own offer does not parse: %v", err)
	}
}

func TestHotlineConfig(t *testing.T) {
	cfg := hotlineConfig("/tmp/x", 5070, 8090, 9470, hotlineOpts{Agents: 3, S3Endpoint: "127.0.0.1:9000"})
	for _, want := range []string{`addr: "127.0.0.1:5070"`, `listen: "127.0.0.1:8090"`, `listen: "127.0.0.1:9470"`, "backend: s3",
		`endpoint: "127.0.0.1:9000"`, "{username: a00002, password: pw-a00002}", "level: warn", "percent: 100",
		"port_min: 4000", "port_max: 19999", "ring_timeout: 3s", "max_wait: 10s"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "a00003") {
		t.Error("config has a fourth agent")
	}
}
