package media

import (
	"testing"
)

// FuzzProcess feeds arbitrary datagrams (RTP, RTCP, RFC 4733 events,
// garbage) to a bridged, latched leg: it must never panic, never forward a
// packet that is not well-formed RTP of a negotiated payload type, and
// forward good ones with the other leg's payload type.
func FuzzProcess(f *testing.F) {
	a, pkt, src := forwardPair(fmtPCMU, fmtPCMA)
	f.Add(append([]byte(nil), pkt...))
	f.Add(append([]byte(nil), pkt[:12]...))
	dtmf := append([]byte(nil), pkt[:16]...)
	dtmf[1] = fmtPCMU.DTMFPT
	dtmf[12], dtmf[13] = 5, 0x80 // digit 5, end
	f.Add(dtmf)
	f.Add([]byte{0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})           // RTCP SR type
	f.Add([]byte{0x9f, 0, 0, 1})                                     // CSRC count beyond the packet
	f.Add([]byte{0xb0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9}) // extension + padding
	var digits []rune
	a.OnDTMF(func(d rune) { digits = append(digits, d) })
	f.Fuzz(func(t *testing.T, p []byte) {
		p = append([]byte(nil), p...)
		in := append([]byte(nil), p...)
		_, _, ok := a.process(p, src)
		if !ok {
			return
		}
		if _, _, valid := parseRTP(in); !valid {
			t.Fatalf("forwarded a packet that is not valid RTP: %x", in)
		}
		pt := in[1] & 0x7f
		switch pt {
		case fmtPCMU.PT:
			if p[1]&0x7f != fmtPCMA.PT {
				t.Fatalf("audio forwarded with PT %d, want %d", p[1]&0x7f, fmtPCMA.PT)
			}
		case fmtPCMU.DTMFPT:
			if p[1]&0x7f != fmtPCMA.DTMFPT {
				t.Fatalf("event forwarded with PT %d, want %d", p[1]&0x7f, fmtPCMA.DTMFPT)
			}
		default:
			t.Fatalf("forwarded unnegotiated PT %d", pt)
		}
		for _, d := range digits {
			if !(d >= '0' && d <= '9' || d == '*' || d == '#' || d >= 'A' && d <= 'D') {
				t.Fatalf("decoded digit %q", d)
			}
		}
	})
}
