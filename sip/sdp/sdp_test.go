package sdp

import (
	"errors"
	"hotline/audio"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// crlf turns a Go raw string (LF line ends, leading newline) into an SDP
// body with CRLF line ends.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimPrefix(s, "\n"), "\n", "\r\n"))
}

var (
	offerBaresip = crlf(`
v=0
o=- 1528196592 2006547640 IN IP4 192.168.1.50
s=-
c=IN IP4 192.168.1.50
t=0 0
m=audio 10078 RTP/AVP 96 0 8 101
b=AS:64
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
a=rtcp:10079
a=ssrc:2415883153 cname:a0b1c2d3
`)

	offerLinphone = crlf(`
v=0
o=agent 3563 1738 IN IP4 10.0.0.7
s=Talk
c=IN IP4 10.0.0.7
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
a=record:off
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
`)

	// SIPp's built-in uac scenario, with LF line ends and no final newline.
	offerSIPp = []byte("v=0\no=user1 53655765 2353687637 IN IP4 127.0.0.1\ns=-\n" +
		"c=IN IP4 127.0.0.1\nt=0 0\nm=audio 6000 RTP/AVP 0\na=rtpmap:0 PCMU/8000")

	offerPT0NoRtpmap = crlf(`
v=0
o=- 1 1 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 5004 RTP/AVP 0
`)

	offerTE48000Only = crlf(`
v=0
o=- 7 8 IN IP4 203.0.113.6
s=-
c=IN IP4 203.0.113.6
t=0 0
m=audio 5006 RTP/AVP 111 8 110
a=rtpmap:111 opus/48000/2
a=rtpmap:8 PCMA/8000
a=rtpmap:110 telephone-event/48000
a=fmtp:110 0-15
`)

	offerMediaLevel = crlf(`
v=0
o=- 10 11 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
a=sendonly
m=audio 30000 RTP/AVP 8 0
c=IN IP4 192.0.2.99
a=inactive
`)

	offerSessionLevel = crlf(`
v=0
o=- 10 12 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
a=sendonly
m=audio 30000 RTP/AVP 8 0
a=ptime:30
`)

	offerOldHold = crlf(`
v=0
o=- 20 21 IN IP4 192.0.2.7
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 31000 RTP/AVP 0
`)

	offerVideoFirst = crlf(`
v=0
o=- 42 1 IN IP4 198.51.100.1
s=-
t=0 0
m=video 9000 RTP/AVP 96
c=IN IP4 198.51.100.1
a=rtpmap:96 VP8/90000
m=audio 9002 RTP/AVP 8 101
c=IN IP4 198.51.100.2
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=recvonly
`)

	offerPort0ThenAudio = crlf(`
v=0
o=- 5 5 IN IP4 198.51.100.3
s=-
c=IN IP4 198.51.100.3
t=0 0
m=audio 0 RTP/AVP 0
m=audio 4000 RTP/AVP 8
`)

	offerPort0Only = crlf(`
v=0
o=- 5 6 IN IP4 198.51.100.3
s=-
c=IN IP4 198.51.100.3
t=0 0
m=audio 0 RTP/AVP 0
`)

	offerIPv6 = crlf(`
v=0
o=- 9 9 IN IP6 2001:db8::1
s=-
c=IN IP6 2001:db8::1
t=0 0
m=audio 20000 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
`)

	offerG729Opus = crlf(`
v=0
o=- 3 3 IN IP4 203.0.113.9
s=-
c=IN IP4 203.0.113.9
t=0 0
m=audio 8000 RTP/AVP 18 96
a=rtpmap:96 opus/48000/2
`)
)

func addr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParse(t *testing.T) {
	te8000 := func(pt uint8, fmtp string) *audio.Codec {
		return &audio.Codec{PT: pt, Name: "telephone-event", Rate: 8000, Fmtp: fmtp}
	}
	tests := []struct {
		name       string
		body       []byte
		sid, ver   uint64
		audioIndex int
		want       Media
		hold       bool
	}{
		{
			name: "baresip", body: offerBaresip, sid: 1528196592, ver: 2006547640,
			want: Media{
				Addr:  addr("192.168.1.50:10078"),
				Proto: "RTP/AVP",
				Codecs: []audio.Codec{
					{PT: 96, Name: "opus", Rate: 48000, Fmtp: "stereo=1;sprop-stereo=1"},
					audio.PCMU(), audio.PCMA(),
				},
				DTMF:      te8000(101, "0-15"),
				Direction: SendRecv,
				PTime:     20,
			},
		},
		{
			name: "linphone many codecs, telephone-event at 48k/16k/8k", body: offerLinphone, sid: 3563, ver: 1738,
			want: Media{
				Addr:  addr("10.0.0.7:7078"),
				Proto: "RTP/AVP",
				Codecs: []audio.Codec{
					{PT: 96, Name: "opus", Rate: 48000, Fmtp: "useinbandfec=1"},
					{PT: 97, Name: "speex", Rate: 16000, Fmtp: "vbr=on"},
					{PT: 98, Name: "speex", Rate: 8000, Fmtp: "vbr=on"},
					audio.PCMU(), audio.PCMA(),
					{PT: 18, Name: "G729", Rate: 8000, Fmtp: "annexb=yes"},
				},
				DTMF:      te8000(100, ""),
				Direction: SendRecv,
			},
		},
		{
			name: "sipp default, LF and no final newline", body: offerSIPp, sid: 53655765, ver: 2353687637,
			want: Media{Addr: addr("127.0.0.1:6000"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMU()}, Direction: SendRecv},
		},
		{
			name: "static PT 0 without rtpmap", body: offerPT0NoRtpmap, sid: 1, ver: 1,
			want: Media{Addr: addr("203.0.113.5:5004"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMU()}, Direction: SendRecv},
		},
		{
			name: "telephone-event at 48000 only is not DTMF", body: offerTE48000Only, sid: 7, ver: 8,
			want: Media{
				Addr:      addr("203.0.113.6:5006"),
				Proto:     "RTP/AVP",
				Codecs:    []audio.Codec{{PT: 111, Name: "opus", Rate: 48000}, audio.PCMA()},
				Direction: SendRecv,
			},
		},
		{
			name: "media-level c= and direction win", body: offerMediaLevel, sid: 10, ver: 11,
			want: Media{Addr: addr("192.0.2.99:30000"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMA(), audio.PCMU()}, Direction: Inactive},
			hold: true,
		},
		{
			name: "session-level c= and direction", body: offerSessionLevel, sid: 10, ver: 12,
			want: Media{Addr: addr("192.0.2.1:30000"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMA(), audio.PCMU()}, Direction: SendOnly, PTime: 30},
			hold: true,
		},
		{
			name: "old-style hold c=0.0.0.0", body: offerOldHold, sid: 20, ver: 21,
			want: Media{Addr: addr("0.0.0.0:31000"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMU()}, Direction: SendRecv},
			hold: true,
		},
		{
			name: "video first then audio", body: offerVideoFirst, sid: 42, ver: 1, audioIndex: 1,
			want: Media{
				Addr: addr("198.51.100.2:9002"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMA()},
				DTMF: te8000(101, "0-16"), Direction: RecvOnly,
			},
		},
		{
			name: "rejected audio then live audio", body: offerPort0ThenAudio, sid: 5, ver: 5, audioIndex: 1,
			want: Media{Addr: addr("198.51.100.3:4000"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMA()}, Direction: SendRecv},
		},
		{
			name: "only rejected audio", body: offerPort0Only, sid: 5, ver: 6,
			want: Media{Addr: addr("198.51.100.3:0"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMU()}, Direction: SendRecv},
		},
		{
			name: "IPv6", body: offerIPv6, sid: 9, ver: 9,
			want: Media{Addr: addr("[2001:db8::1]:20000"), Proto: "RTP/AVP", Codecs: []audio.Codec{audio.PCMU()}, DTMF: te8000(101, "0-16"), Direction: SendRecv},
		},
		{
			name: "G729 static and opus", body: offerG729Opus, sid: 3, ver: 3,
			want: Media{
				Addr: addr("203.0.113.9:8000"), Proto: "RTP/AVP",
				Codecs:    []audio.Codec{{PT: 18, Name: "G729", Rate: 8000}, {PT: 96, Name: "opus", Rate: 48000}},
				Direction: SendRecv,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.SessionID != tt.sid || s.Version != tt.ver {
				t.Errorf("o= = %d %d, want %d %d", s.SessionID, s.Version, tt.sid, tt.ver)
			}
			if s.AudioIndex != tt.audioIndex || s.Streams[s.AudioIndex].Media != "audio" {
				t.Errorf("AudioIndex = %d, want %d (streams %+v)", s.AudioIndex, tt.audioIndex, s.Streams)
			}
			if !reflect.DeepEqual(s.Audio, tt.want) {
				t.Errorf("Audio =\n %+v (dtmf %+v)\nwant\n %+v (dtmf %+v)", s.Audio, s.Audio.DTMF, tt.want, tt.want.DTMF)
			}
			if got := s.Audio.OnHold(); got != tt.hold {
				t.Errorf("OnHold = %v, want %v", got, tt.hold)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	head := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"whitespace", " \r\n\r\n"},
		{"garbage", "hello world, this is not SDP"},
		{"binary", "\x00\x01\x02=\xff"},
		{"SIP message instead of body", "INVITE sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n"},
		{"missing c=", head + "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"c= without address", head + "c=IN IP4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"c= hostname", head + "c=IN IP4 pbx.example.com\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"c= multicast with TTL", head + "c=IN IP4 224.2.1.1/127\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"c= zone", head + "c=IN IP6 fe80::1%eth0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"non-numeric port", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio abc RTP/AVP 0\r\n"},
		{"port out of range", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n"},
		{"negative port", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio -2 RTP/AVP 0\r\n"},
		{"no m= line", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"},
		{"only video", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"},
		{"missing t=", head + "c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"truncated o=", "v=0\r\no=- 1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %+v, %v; want an error wrapping ErrMalformed", s, err)
			}
		})
	}
}

func TestDirectionAnswer(t *testing.T) {
	tests := []struct{ offer, want Direction }{
		{SendRecv, SendRecv},
		{SendOnly, RecvOnly},
		{RecvOnly, SendOnly},
		{Inactive, Inactive},
		{"", SendRecv},
	}
	for _, tt := range tests {
		if got := tt.offer.Answer(); got != tt.want {
			t.Errorf("%q.Answer() = %q, want %q", tt.offer, got, tt.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	pcmuPT97 := crlf(`
v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 4000 RTP/AVP 97 8 120
a=rtpmap:97 pcmu/8000
a=rtpmap:120 telephone-event/8000
`)
	tests := []struct {
		name      string
		body      []byte
		supported []string
		want      audio.Codec
		wantDTMF  *audio.Codec
		wantErr   []string // substrings of an ErrNoCommonCodec error
	}{
		{
			name: "linphone: first supported in offerer order", body: offerLinphone,
			supported: []string{"PCMA", "PCMU"}, want: audio.PCMU(),
			wantDTMF: &audio.Codec{PT: 100, Name: "telephone-event", Rate: 8000},
		},
		{
			name: "offerer prefers PCMA", body: offerSessionLevel,
			supported: []string{"PCMU", "PCMA"}, want: audio.PCMA(),
		},
		{
			name: "only PCMU supported", body: offerSessionLevel,
			supported: []string{"PCMU"}, want: audio.PCMU(),
		},
		{
			name: "case-insensitive, offerer's dynamic PT kept", body: pcmuPT97,
			supported: []string{"PCMU"}, want: audio.Codec{PT: 97, Name: "pcmu", Rate: 8000},
			wantDTMF: &audio.Codec{PT: 120, Name: "telephone-event", Rate: 8000},
		},
		{
			name: "lower-case supported list", body: offerBaresip,
			supported: []string{"pcma"}, want: audio.PCMA(),
			wantDTMF: &audio.Codec{PT: 101, Name: "telephone-event", Rate: 8000, Fmtp: "0-15"},
		},
		{
			name: "G729 and opus only", body: offerG729Opus,
			supported: []string{"PCMU", "PCMA"}, wantErr: []string{"G729", "opus", "PCMU"},
		},
		{
			name: "nothing supported", body: offerSIPp,
			supported: nil, wantErr: []string{"PCMU"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			got, dtmf, err := Negotiate(&s.Audio, tt.supported)
			if tt.wantErr != nil {
				if !errors.Is(err, ErrNoCommonCodec) {
					t.Fatalf("err = %v, want ErrNoCommonCodec", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("codec = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(dtmf, tt.wantDTMF) {
				t.Errorf("dtmf = %+v, want %+v", dtmf, tt.wantDTMF)
			}
		})
	}

	if _, _, err := Negotiate(nil, []string{"PCMU"}); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("Negotiate(nil) err = %v, want ErrNoCommonCodec", err)
	}
}

func TestMarshalExact(t *testing.T) {
	te := audio.TelephoneEvent(101)
	l := Local{
		SessionID: 123, Version: 2,
		Addr:   addr("192.0.2.10:40000"),
		Codecs: []audio.Codec{audio.PCMU(), audio.PCMA()},
		DTMF:   &te,
		PTime:  20,
	}
	want := "v=0\r\n" +
		"o=hotline 123 2 IN IP4 192.0.2.10\r\n" +
		"s=Hotline\r\n" +
		"c=IN IP4 192.0.2.10\r\n" +
		"t=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\n" +
		"a=sendrecv\r\n"
	if got := string(l.Marshal()); got != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
}

func TestMarshalLines(t *testing.T) {
	tests := []struct {
		name    string
		local   Local
		want    []string
		notWant []string
	}{
		{
			name:  "IPv6, recvonly, no ptime, DTMF without fmtp",
			local: Local{SessionID: 1, Version: 1, Addr: addr("[2001:db8::5]:5000"), Codecs: []audio.Codec{audio.PCMA()}, DTMF: &audio.Codec{PT: 96, Name: "telephone-event", Rate: 8000}, Direction: RecvOnly},
			want: []string{
				"o=hotline 1 1 IN IP6 2001:db8::5", "c=IN IP6 2001:db8::5", "m=audio 5000 RTP/AVP 8 96",
				"a=rtpmap:8 PCMA/8000", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16", "a=recvonly",
			},
			notWant: []string{"a=ptime", "a=sendrecv"},
		},
		{
			name:    "rejected stream, invalid direction",
			local:   Local{Addr: addr("192.0.2.1:0"), Codecs: []audio.Codec{audio.PCMU()}, Direction: "bogus\r\na=evil"},
			want:    []string{"m=audio 0 RTP/AVP 0", "a=sendrecv"},
			notWant: []string{"evil", "a=fmtp", "telephone-event"},
		},
		{
			name:    "duplicate PT and unsafe fmtp skipped",
			local:   Local{Addr: addr("192.0.2.1:4000"), Codecs: []audio.Codec{audio.PCMU(), {PT: 0, Name: "PCMA", Rate: 8000}, {PT: 97, Name: "x", Rate: 8000, Fmtp: "a\r\nb"}}},
			want:    []string{"m=audio 4000 RTP/AVP 0 97", "a=rtpmap:97 x/8000"},
			notWant: []string{"PCMA", "a=fmtp"},
		},
		{
			name:  "answer to video+audio offer keeps m= lines",
			local: Local{Addr: addr("192.0.2.1:4000"), Codecs: []audio.Codec{audio.PCMA()}, Streams: mustParse(t, offerVideoFirst).Streams, AudioIndex: 1},
			want:  []string{"m=video 0 RTP/AVP 96", "m=audio 4000 RTP/AVP 8"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := string(tt.local.Marshal())
			lines := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("missing line %q in\n%s", w, body)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(body, nw) {
					t.Errorf("unexpected %q in\n%s", nw, body)
				}
			}
			if _, err := Parse([]byte(body)); err != nil {
				t.Errorf("Parse(Marshal()) = %v", err)
			}
		})
	}
}

func mustParse(t *testing.T, body []byte) *Session {
	t.Helper()
	s, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMarshalRoundTrip(t *testing.T) {
	te := audio.TelephoneEvent(101)
	tests := []struct {
		name  string
		local Local
	}{
		{"answer PCMU+DTMF", Local{SessionID: 99, Version: 3, Addr: addr("127.0.0.1:20000"), Codecs: []audio.Codec{audio.PCMU()}, DTMF: &te, Direction: SendRecv, PTime: 20}},
		{"offer PCMA,PCMU no DTMF", Local{SessionID: 1 << 62, Version: 1, Addr: addr("10.1.2.3:30002"), Codecs: []audio.Codec{audio.PCMA(), audio.PCMU()}, Direction: SendOnly}},
		{"IPv6 inactive", Local{SessionID: 5, Version: 7, Addr: addr("[2001:db8::7]:6000"), Codecs: []audio.Codec{audio.PCMU()}, DTMF: &audio.Codec{PT: 96, Name: "telephone-event", Rate: 8000, Fmtp: "0-15"}, Direction: Inactive, PTime: 40}},
		{"hold address, dynamic codec with fmtp", Local{Addr: addr("0.0.0.0:7000"), Codecs: []audio.Codec{{PT: 98, Name: "speex", Rate: 8000, Fmtp: "vbr=on"}, audio.PCMA()}, Direction: RecvOnly}},
		{"rejected", Local{Addr: addr("192.0.2.1:0"), Codecs: []audio.Codec{audio.PCMU()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.local.Marshal())
			if err != nil {
				t.Fatalf("Parse(Marshal()) = %v", err)
			}
			if s.SessionID != tt.local.SessionID || s.Version != tt.local.Version {
				t.Errorf("o= = %d %d, want %d %d", s.SessionID, s.Version, tt.local.SessionID, tt.local.Version)
			}
			want := Media{
				Addr: tt.local.Addr, Proto: "RTP/AVP", Codecs: tt.local.Codecs, DTMF: tt.local.DTMF,
				Direction: tt.local.Direction, PTime: tt.local.PTime,
			}
			if want.Direction == "" {
				want.Direction = SendRecv
			}
			if !reflect.DeepEqual(s.Audio, want) {
				t.Errorf("round trip =\n %+v\nwant\n %+v", s.Audio, want)
			}
		})
	}
}

// localFor is the Local that mirrors a parsed session, as a B2BUA relaying
// it would build.
func localFor(s *Session) Local {
	return Local{
		SessionID: s.SessionID, Version: s.Version,
		Addr: s.Audio.Addr, Codecs: s.Audio.Codecs, DTMF: s.Audio.DTMF,
		Direction: s.Audio.Direction, PTime: s.Audio.PTime,
		Streams: s.Streams, AudioIndex: s.AudioIndex,
	}
}

func FuzzParse(f *testing.F) {
	for _, b := range [][]byte{
		offerBaresip, offerLinphone, offerSIPp, offerPT0NoRtpmap, offerTE48000Only,
		offerMediaLevel, offerSessionLevel, offerOldHold, offerVideoFirst,
		offerPort0ThenAudio, offerPort0Only, offerIPv6, offerG729Opus,
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		l := localFor(s)
		out := l.Marshal()
		s2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal()) = %v\ninput:\n%q\nmarshalled:\n%q", err, body, out)
		}
		want := s.Audio
		want.Proto = "RTP/AVP"
		if want.DTMF != nil && want.DTMF.Fmtp == "" {
			d := *want.DTMF
			d.Fmtp = audio.DTMFEvents
			want.DTMF = &d
		}
		if !reflect.DeepEqual(s2.Audio, want) {
			t.Fatalf("round trip changed audio:\n %+v\nwant\n %+v\nmarshalled:\n%q", s2.Audio, want, out)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(offerLinphone); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	te := audio.TelephoneEvent(101)
	l := Local{SessionID: 123, Version: 2, Addr: addr("192.0.2.10:40000"), Codecs: []audio.Codec{audio.PCMU(), audio.PCMA()}, DTMF: &te, PTime: 20}
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Marshal()
	}
}
