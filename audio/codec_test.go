package audio

import "testing"

func TestCodecEncoding(t *testing.T) {
	tests := []struct {
		c    Codec
		want Encoding
		ok   bool
	}{
		{PCMU(), ULaw, true},
		{PCMA(), ALaw, true},
		{Codec{PT: 97, Name: "pcma", Rate: 8000}, ALaw, true}, // names compare case-insensitively
		{TelephoneEvent(101), 0, false},
		{Codec{PT: 13, Name: "CN", Rate: 8000}, 0, false},
		{Codec{PT: 96}, 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.c.Encoding()
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%+v.Encoding() = %v %v, want %v %v", tt.c, got, ok, tt.want, tt.ok)
		}
	}
	if c := PCMA().WithPT(96); c.PT != 96 || c.Name != "PCMA" || c.Rate != 8000 {
		t.Errorf("WithPT: %+v", c)
	}
	if ULaw.String() != "PCMU" || ALaw.String() != "PCMA" {
		t.Errorf("encoding names %s %s", ULaw, ALaw)
	}
}

// Transcoding in place gives what decoding then encoding gives.
func TestTranscodeMatchesDecodeEncode(t *testing.T) {
	for _, tc := range []struct{ from, to Encoding }{{ULaw, ALaw}, {ALaw, ULaw}} {
		in := make([]byte, 256)
		for i := range in {
			in[i] = byte(i)
		}
		pcm := make([]int16, len(in))
		Decode(pcm, in, tc.from)
		want := make([]byte, len(in))
		Encode(want, pcm, tc.to)
		got := append([]byte(nil), in...)
		Transcode(got, tc.from, tc.to)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s->%s byte %#x: %#x, want %#x", tc.from, tc.to, in[i], got[i], want[i])
			}
		}
	}
}
