package sip

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/internal/promtest"
	"hotline/internal/rxstamp"
	"hotline/metrics"
	"hotline/routing/directory"
	"hotline/sip/overload"
	"hotline/sip/sdp"
)

// crlf turns a readable message (lines ending in \n) into SIP's CRLF.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

const doorSDP = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"

// A SIPp-style INVITE: one Via with rport, full header names.
var doorInviteFull = crlf(fmt.Sprintf(`INVITE sip:1900@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0;rport
From: "Caller" <sip:5551111@127.0.0.1:5070>;tag=1SIPpTag001
To: <sip:1900@127.0.0.1:5060>
Call-ID: 1-4242@127.0.0.1
CSeq: 1 INVITE
Contact: <sip:5551111@127.0.0.1:5070>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: %d

%s`, len(crlf(doorSDP)), doorSDP))

// Through two proxies, compact header names, the Vias in two fields
// (one holding two values), no rport.
var doorInviteCompact = crlf(`INVITE sip:1900@hotline.example SIP/2.0
v: SIP/2.0/UDP edge.example:5080;branch=z9hG4bKedge1
V: SIP / 2.0 / UDP 10.0.0.7:5090;branch=z9hG4bKsbc1;received=10.0.0.8, SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKphone
f: <sip:5552222@example.com>;tag=abc
t: "Support; tag=none <x>" <sip:1900@hotline.example;tag=uri-param>
i: compact-77@192.168.1.20
CSeq: 314 INVITE
m: <sip:5552222@192.168.1.20:5062>
l: 0

`)

func TestDoorRecognisesNewInvites(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
	}{{"full names, rport", doorInviteFull}, {"compact names, three Vias, tag-like text not a To tag", doorInviteCompact}} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := initialInvite(tc.msg)
			if !ok {
				t.Fatal("not recognised as a new call's INVITE")
			}
			want, err := sip.ParseMessage(bytes.Clone(tc.msg))
			if err != nil {
				t.Fatalf("sipgo does not parse the test message: %v", err)
			}
			req := want.(*sip.Request)
			if got := string(r.callID.of(tc.msg)); got != req.CallID().Value() {
				t.Errorf("Call-ID %q, sipgo reads %q", got, req.CallID().Value())
			}
			if tag, _ := req.To().Params.Get("tag"); tag != "" {
				t.Fatalf("sipgo reads a To tag %q: the test message is wrong", tag)
			}
		})
	}
	notNew := map[string][]byte{
		"re-INVITE (To tag)":              bytes.Replace(doorInviteFull, []byte("To: <sip:1900@127.0.0.1:5060>"), []byte("To: <sip:1900@127.0.0.1:5060>;tag=hotline1"), 1),
		"re-INVITE (compact, spaced tag)": bytes.Replace(doorInviteCompact, []byte(";tag=uri-param>"), []byte(";tag=uri-param> ; TAG = h1"), 1),
		"BYE":                             bytes.Replace(bytes.Replace(doorInviteFull, []byte("INVITE sip"), []byte("BYE sip"), 1), []byte("1 INVITE"), []byte("1 BYE"), 1),
		"ACK":                             bytes.Replace(bytes.Replace(doorInviteFull, []byte("INVITE sip"), []byte("ACK sip"), 1), []byte("1 INVITE"), []byte("1 ACK"), 1),
		"CSeq of another method":          bytes.Replace(doorInviteFull, []byte("1 INVITE"), []byte("1 OPTIONS"), 1),
		"response":                        crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>\nCall-ID: x\nCSeq: 1 INVITE\n\n"),
		"cut before the blank line":       doorInviteFull[:bytes.Index(doorInviteFull, []byte("Contact:"))],
		"folded header":                   bytes.Replace(doorInviteFull, []byte("To: <sip:1900@127.0.0.1:5060>"), []byte("To:\r\n <sip:1900@127.0.0.1:5060>"), 1),
		"two To fields":                   bytes.Replace(doorInviteFull, []byte("Call-ID:"), []byte("To: <sip:x@y>;tag=9\r\nCall-ID:"), 1),
		"no Via":                          bytes.Replace(doorInviteFull, []byte("Via: "), []byte("X-Via: "), 1),
		"no Call-ID":                      bytes.Replace(doorInviteFull, []byte("Call-ID:"), []byte("X-Call-ID:"), 1),
		"not SIP/2.0":                     bytes.Replace(doorInviteFull, []byte(" SIP/2.0\r\n"), []byte(" SIP/3.0\r\n"), 1),
		"lower-case method":               bytes.Replace(doorInviteFull, []byte("INVITE sip"), []byte("invite sip"), 1),
	}
	for name, msg := range notNew {
		if _, ok := initialInvite(msg); ok {
			t.Errorf("%s: taken for a new call's INVITE", name)
		}
	}
}

// TestDoor503 builds the door's 503 to each INVITE and reads it with
// sipgo's parser, as a caller would.
func TestDoor503(t *testing.T) {
	src := netip.MustParseAddrPort("127.0.0.1:5070")
	for _, tc := range []struct {
		name     string
		msg      []byte
		dst      string
		topVia   string // the topmost Via as answered
		vias     int
		fromTag  string
		cseq     uint32
		callID   string
		received bool
	}{
		{"full, rport", doorInviteFull, "127.0.0.1:5070", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0;rport=5070;received=127.0.0.1", 1, "1SIPpTag001", 1, "1-4242@127.0.0.1", true},
		{"compact, three Vias", doorInviteCompact, "127.0.0.1:5080", "SIP/2.0/UDP edge.example:5080;branch=z9hG4bKedge1", 3, "abc", 314, "compact-77@192.168.1.20", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := initialInvite(tc.msg)
			if !ok {
				t.Fatal("not recognised")
			}
			out, dst := build503(nil, tc.msg, &r, src, 5, "Hotline test")
			if dst.String() != tc.dst {
				t.Errorf("503 sent to %s, want %s", dst, tc.dst)
			}
			m, err := sip.ParseMessage(bytes.Clone(out))
			if err != nil {
				t.Fatalf("sipgo cannot read the 503: %v\n%s", err, out)
			}
			res, ok := m.(*sip.Response)
			if !ok || res.StatusCode != 503 {
				t.Fatalf("not a 503: %s", out)
			}
			if got := header(res, "Retry-After"); got != "5" {
				t.Errorf("Retry-After %q, want 5", got)
			}
			if got := len(res.GetHeaders("Via")); got != tc.vias {
				t.Errorf("%d Via values, want %d:\n%s", got, tc.vias, out)
			}
			if got := res.Via().Value(); got != tc.topVia {
				t.Errorf("top Via %q, want %q", got, tc.topVia)
			}
			if tag, _ := res.From().Params.Get("tag"); tag != tc.fromTag {
				t.Errorf("From tag %q, want %q", tag, tc.fromTag)
			}
			tag, _ := res.To().Params.Get("tag")
			if !strings.HasPrefix(tag, doorTagPrefix) {
				t.Errorf("To tag %q, want one starting %q", tag, doorTagPrefix)
			}
			if res.CallID().Value() != tc.callID || res.CSeq().SeqNo != tc.cseq || res.CSeq().MethodName != sip.INVITE {
				t.Errorf("Call-ID %q CSeq %v", res.CallID().Value(), res.CSeq())
			}
			if res.ContentLength() == nil || *res.ContentLength() != 0 || len(res.Body()) != 0 {
				t.Errorf("503 with a body: %s", out)
			}
			// A retransmission gets the same tag; another transaction
			// (another branch) another one.
			again, _ := build503(nil, bytes.Clone(tc.msg), &r, src, 5, "Hotline test")
			if !bytes.Equal(again, out) {
				t.Errorf("retransmission answered differently:\n%s\n%s", out, again)
			}
			other := bytes.Replace(tc.msg, []byte("branch=z9hG4bK"), []byte("branch=z9hG4bKx"), 1)
			ro, _ := initialInvite(other)
			o503, _ := build503(nil, other, &ro, src, 5, "")
			om, err := sip.ParseMessage(o503)
			if err != nil {
				t.Fatal(err)
			}
			if otag, _ := om.(*sip.Response).To().Params.Get("tag"); otag == tag {
				t.Errorf("another transaction got the same To tag %q", tag)
			}
			// The caller's ACK of the 503 is the door's; another ACK is not.
			ack := crlf("ACK sip:1900@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0\nFrom: <sip:a@b>;tag=1\nTo: <sip:1900@127.0.0.1>;tag=" + tag + "\nCall-ID: " + tc.callID + "\nCSeq: 1 ACK\nContent-Length: 0\n\n")
			if !doorAck(ack) {
				t.Error("the ACK of a door 503 is not recognised")
			}
			if doorAck(bytes.Replace(ack, []byte("tag="+doorTagPrefix), []byte("tag=x"), 1)) {
				t.Error("the ACK of another response is taken for the door's")
			}
		})
	}
}

// FuzzDoor: whatever the datagram, the recogniser does not panic; what
// it takes for a new call's INVITE, sipgo (when it can parse it) reads
// as an INVITE without a To tag with the same Call-ID; and its 503 is a
// response sipgo reads with the request's Call-ID and a door To tag.
func FuzzDoor(f *testing.F) {
	f.Add(doorInviteFull)
	f.Add(doorInviteCompact)
	f.Add(bytes.Replace(doorInviteFull, []byte("To: <sip:1900@127.0.0.1:5060>"), []byte("To: sip:1900@127.0.0.1;tag=1"), 1))
	f.Add(crlf("ACK sip:1900@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK\nFrom: <sip:a@b>;tag=1\nTo: <sip:1900@127.0.0.1>;tag=hl503x\nCall-ID: c\nCSeq: 1 ACK\n\n"))
	src := netip.MustParseAddrPort("127.0.0.1:5070")
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = doorAck(b)
		r, ok := initialInvite(b)
		if !ok {
			return
		}
		m, err := sip.ParseMessage(bytes.Clone(b))
		if err == nil {
			req, isReq := m.(*sip.Request)
			if !isReq || req.Method != sip.INVITE {
				t.Fatalf("sipgo reads %T %v", m, m)
			}
			if to := req.To(); to != nil {
				if tag, _ := to.Params.Get("tag"); tag != "" {
					t.Fatalf("sipgo reads To tag %q in a message the door takes for a new call", tag)
				}
			}
			if id := req.CallID(); id != nil && id.Value() != string(r.callID.of(b)) {
				t.Fatalf("Call-ID %q, sipgo reads %q", r.callID.of(b), id.Value())
			}
		}
		out, _ := build503(nil, b, &r, src, 5, "x")
		if err != nil {
			return // sipgo cannot read the request; the 503 copies its fields
		}
		if req := m.(*sip.Request); req.From() == nil || req.To() == nil || req.Via() == nil || req.CSeq() == nil {
			return // nor these fields, which the 503 copies
		}
		rm, err := sip.ParseMessage(out)
		if err != nil {
			t.Fatalf("sipgo cannot read the 503 (%v):\n%q", err, out)
		}
		res, ok := rm.(*sip.Response)
		if !ok || res.StatusCode != 503 || res.CallID() == nil || res.CallID().Value() != string(r.callID.of(b)) {
			t.Fatalf("bad 503:\n%q", out)
		}
	})
}

// rawUA is a caller that writes SIP datagrams by hand (to retransmit
// an INVITE byte for byte) from a real UDP socket on 127.0.0.1.
type rawUA struct {
	t    *testing.T
	c    *net.UDPConn
	port int
}

func newRawUA(t *testing.T) *rawUA {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawUA{t: t, c: c, port: c.LocalAddr().(*net.UDPAddr).Port}
}

// invite returns a new call's INVITE to 1900 with an SDP offer.
func (u *rawUA) invite(callID, branch string) []byte {
	return crlf(fmt.Sprintf(`INVITE sip:1900@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport
From: "Raw" <sip:5553333@127.0.0.1:%d>;tag=raw-%s
To: <sip:1900@127.0.0.1>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:5553333@127.0.0.1:%d>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: %d

%s`, u.port, branch, u.port, callID, callID, u.port, len(crlf(doorSDP)), doorSDP))
}

// inDialog returns an ACK or BYE for the call res answered.
func (u *rawUA) inDialog(method string, seq int, res *sip.Response, branch string) []byte {
	target := "sip:1900@127.0.0.1" // the INVITE's Request-URI (an ACK of a failure)
	if c := res.Contact(); c != nil {
		target = c.Address.String()
	}
	return crlf(fmt.Sprintf(`%s %s SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport
From: %s
To: %s
Call-ID: %s
CSeq: %d %s
Max-Forwards: 70
Content-Length: 0

`, method, target, u.port, branch, res.From().Value(), res.To().Value(), res.CallID().Value(), seq, method))
}

func (u *rawUA) send(b []byte, to netip.AddrPort) {
	u.t.Helper()
	if _, err := u.c.WriteToUDPAddrPort(b, to); err != nil {
		u.t.Fatal(err)
	}
}

// next returns the next response that arrives (bounded wait).
func (u *rawUA) next() *sip.Response {
	u.t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(waitTimeout)
	for {
		_ = u.c.SetReadDeadline(deadline)
		n, err := u.c.Read(buf)
		if err != nil {
			u.t.Fatalf("no response: %v", err)
		}
		m, err := sip.ParseMessage(bytes.Clone(buf[:n]))
		if err != nil {
			u.t.Fatalf("unreadable message: %v\n%s", err, buf[:n])
		}
		if res, ok := m.(*sip.Response); ok {
			return res
		}
	}
}

// final returns the next final response to a request of method, and
// ackAndHangUp ACKs the call ok answered and hangs it up (branches
// <branch>ack and <branch>bye), expecting the BYE's 200.
func (u *rawUA) ackAndHangUp(t *testing.T, ok *sip.Response, branch string, to netip.AddrPort) {
	t.Helper()
	u.send(u.inDialog("ACK", 1, ok, branch+"ack"), to)
	u.send(u.inDialog("BYE", 2, ok, branch+"bye"), to)
	if bye, seen := u.final(sip.BYE); bye.StatusCode != 200 {
		t.Errorf("BYE: responses %v", seen)
	}
}

// the status of every response seen on the way.
func (u *rawUA) final(method sip.RequestMethod) (*sip.Response, []int) {
	u.t.Helper()
	var seen []int
	for {
		res := u.next()
		seen = append(seen, res.StatusCode)
		if res.CSeq().MethodName == method && res.StatusCode >= 200 {
			return res, seen
		}
	}
}

// TestDoorRefusesAtTheSocket: while Hotline sheds, a new call's INVITE
// over UDP gets 503 with Retry-After from the door, its retransmission
// the same 503 (same To tag), and takes no RTP port; over TCP the same
// INVITE is still refused, by the handler (sipgo's transaction, its own
// tag: the door is on the UDP socket only); the call in progress gets
// its re-INVITE and BYE answered and an agent can register.
func TestDoorRefusesAtTheSocket(t *testing.T) {
	t.Run("in Hotline", func(t *testing.T) { testDoorRefusesAtTheSocket(t, false) })
	if runtime.GOOS == "linux" {
		// The same from the door process (sip.overload.door_process):
		// Hotline's decision reaches it through the shared memory, its
		// refusals Hotline's metrics.
		t.Run("door process", func(t *testing.T) { testDoorRefusesAtTheSocket(t, true) })
	}
}

func testDoorRefusesAtTheSocket(t *testing.T, doorProcess bool) {
	pressure := filepath.Join(t.TempDir(), "pressure")
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		ov := &o.cfg.Overload
		ov.PressureFile, ov.Interval, ov.Confirm, ov.Hold = pressure, 10*time.Millisecond, 1, 0
		ov.DoorProcess = &doorProcess
		o.cfg.Listen = append(o.cfg.Listen, Listener{Transport: "tcp", Addr: "127.0.0.1:0"})
		o.deps = func(d *Deps) { d.Metrics = m }
	})
	if n := len(f.srv.doorLinks()); (n == 1) != doorProcess || n > 1 {
		t.Fatalf("%d door processes running, want one: %v", n, doorProcess)
	}
	first := newPhone(t, "5551111", f.addr)
	call := first.call("1900", first.sdp(sdp.SendRecv))
	call.answered()

	setPressure(t, pressure, "1")
	waitShedding(t, f.srv, true)
	ports := f.srv.Ports().InUse()

	u := newRawUA(t)
	inv := u.invite("door-1", "door1")
	t0 := time.Now()
	u.send(inv, f.addr)
	res := u.next()
	took := time.Since(t0)
	tag, _ := res.To().Params.Get("tag")
	if res.StatusCode != 503 || header(res, "Retry-After") != "5" || !strings.HasPrefix(tag, doorTagPrefix) {
		t.Fatalf("new call while shedding: got %d %s, Retry-After %q, To tag %q; want the door's 503 with Retry-After 5",
			res.StatusCode, res.Reason, header(res, "Retry-After"), tag)
	}
	if rport, _ := res.Via().Params.Get("rport"); rport != strconv.Itoa(u.port) {
		t.Errorf("503's Via rport %q, want the source port %d", rport, u.port)
	}
	t.Logf("503 after %s", took)
	u.send(inv, f.addr) // retransmission
	res2 := u.next()
	if tag2, _ := res2.To().Params.Get("tag"); res2.StatusCode != 503 || tag2 != tag {
		t.Errorf("retransmitted INVITE: got %d with To tag %q, want 503 with %q", res2.StatusCode, tag2, tag)
	}
	u.send(u.inDialog("ACK", 1, res, "door1"), f.addr) // the door's to drop
	// Both 503s are timed from the INVITE's arrival in the socket (the
	// door process's reach the metrics within 20 ms).
	pollUntil(func() bool { n, _ := promtest.HistogramCount(t, m.Registry(), metrics.NameRefusalTime); return n >= 2 })
	if n, sum := promtest.HistogramCount(t, m.Registry(), metrics.NameRefusalTime); n != 2 || sum <= 0 || sum >= 2 {
		t.Errorf("%s: %d observations summing to %gs, want the 2 door 503s, each after well under a second", metrics.NameRefusalTime, n, sum)
	}
	// Every datagram read from the UDP socket is timed too: at least the
	// call's INVITE and the door's INVITE twice, all answered by now.
	if n, sum := promtest.HistogramCount(t, m.Registry(), metrics.NameSIPSocketWait); n < 3 || sum < 0 || sum >= float64(n) {
		t.Errorf("%s: %d observations summing to %gs, want one per datagram read (at least 3), each well under a second", metrics.NameSIPSocketWait, n, sum)
	}
	if runtime.GOOS == "linux" {
		// The INVITEs (the call's, the door's twice) came through their
		// own socket; the call's ACK and the ACK of the door's 503
		// through the other one, whose reader may not have read the
		// last yet (sent just above): waited for. With the door process
		// Hotline reads only what it passes on (the call's INVITE); the
		// refused ones' waits are in the refusal time above.
		wantInv := uint64(3)
		if doorProcess {
			wantInv = 1
		}
		var inv, oth uint64
		pollUntil(func() bool {
			inv = promtest.HistogramCountLabel(t, m.Registry(), metrics.NameSIPSocketWait, "socket", metrics.SocketInvites)
			oth = promtest.HistogramCountLabel(t, m.Registry(), metrics.NameSIPSocketWait, "socket", metrics.SocketOthers)
			return inv >= wantInv && oth >= 2
		})
		if inv != wantInv && (doorProcess || inv < wantInv) || oth < 2 {
			t.Errorf("%s: %d datagrams read from the INVITE socket and %d from the other, want %d and at least 2", metrics.NameSIPSocketWait, inv, oth, wantInv)
		}
	}

	// TCP: refused by the handler, with sipgo's tag.
	tcpRes := tcpRequest(t, f.srv.Addr("tcp").String(), bytes.ReplaceAll(u.invite("door-tcp", "doortcp"),
		[]byte("SIP/2.0/UDP"), []byte("SIP/2.0/TCP")))
	if ttag, _ := tcpRes.To().Params.Get("tag"); tcpRes.StatusCode != 503 || strings.HasPrefix(ttag, doorTagPrefix) {
		t.Errorf("new call over TCP while shedding: %d with To tag %q, want 503 from the handler (not the door's tag)", tcpRes.StatusCode, ttag)
	}
	if got := f.srv.Ports().InUse(); got != ports {
		t.Errorf("refused calls took RTP ports: %d in use, was %d", got, ports)
	}
	if res := call.reinvite(first.sdp(sdp.SendRecv)); res.StatusCode != 200 {
		t.Errorf("re-INVITE of the call in progress while shedding: got %d %s, want 200", res.StatusCode, res.Reason)
	}
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	call.bye()
	f.checkIdle()

	setPressure(t, pressure, "0")
	waitShedding(t, f.srv, false)
	u.send(u.invite("door-2", "door2"), f.addr)
	ok, seen := u.final(sip.INVITE)
	if ok.StatusCode != 200 {
		t.Fatalf("new call once shedding stopped: responses %v, want 200", seen)
	}
	u.ackAndHangUp(t, ok, "door2", f.addr)
	f.checkIdle()
}

// tcpRequest sends one request over a new TCP connection and returns
// the first final response.
func tcpRequest(t *testing.T, addr string, req []byte) *sip.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for {
		var msg []byte
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				t.Fatalf("TCP response: %v", err)
			}
			msg = append(msg, line...)
			if string(line) == "\r\n" {
				break
			}
		}
		m, err := sip.ParseMessage(msg)
		if err != nil {
			t.Fatalf("unreadable TCP response: %v\n%s", err, msg)
		}
		res, ok := m.(*sip.Response)
		if ok && res.StatusCode >= 200 {
			return res
		}
	}
}

// TestDoorLetsAdmittedRetransmissionsThrough: with max_setups 1, a call
// in setup makes the door refuse new INVITEs (at once, 503), but a
// retransmission of that call's own INVITE reaches its transaction: the
// caller gets its 200, never a 503.
func TestDoorLetsAdmittedRetransmissionsThrough(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.Overload.MaxSetups = 1
		o.deps = func(d *Deps) {
			d.Routes.Customers = func(ctx context.Context, callerID string) directory.Customer {
				if callerID == "5553333" {
					select {
					case entered <- struct{}{}:
					default:
					}
					select {
					case <-release:
					case <-ctx.Done():
					}
				}
				return directory.Unknown(callerID)
			}
		}
	})
	a := newRawUA(t)
	inv := a.invite("setup-a", "setupa")
	a.send(inv, f.addr)
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("the first call never reached its setup")
	}
	a.send(inv, f.addr) // retransmitted while the door refuses new calls

	b := newRawUA(t)
	t0 := time.Now()
	b.send(b.invite("setup-b", "setupb"), f.addr)
	res := b.next()
	if tag, _ := res.To().Params.Get("tag"); res.StatusCode != 503 || !strings.HasPrefix(tag, doorTagPrefix) {
		t.Fatalf("new call while max_setups calls are in setup: %d %s (To tag %q), want the door's 503", res.StatusCode, res.Reason, tag)
	}
	t.Logf("503 after %s", time.Since(t0))

	close(release)
	ok, seen := a.final(sip.INVITE)
	if ok.StatusCode != 200 {
		t.Fatalf("the call in setup, its INVITE retransmitted: responses %v, want 200 (queued, answered)", seen)
	}
	a.ackAndHangUp(t, ok, "setupa", f.addr)
	f.checkIdle()
}

// TestDoorRefusesInvitesThatWaited: with socket_delay 30ms, a new
// INVITE that waited longer in Hotline's socket (nobody read it for
// 80 ms) while every datagram read in the window before waited as long
// (a standing queue) is refused at the door although nothing sheds,
// with the socket_delay reason; one that waited as long after a window
// of short waits (a stall: a garbage collection, a burst) goes through,
// as do a fresh one and an in-dialog request that waited as long.
func TestDoorRefusesInvitesThatWaited(t *testing.T) {
	if !rxstamp.Enable(newRawUA(t).c) {
		if runtime.GOOS == "linux" {
			t.Fatal("no kernel arrival stamps (SO_TIMESTAMPNS) on Linux")
		}
		t.Skip("arrival stamps are read on 64-bit Linux only")
	}
	srvSock := newRawUA(t) // stands for Hotline's SIP socket
	var logs bytes.Buffer  // written by the door, in this goroutine
	s := &Server{cfg: Config{UserAgent: "Hotline test"}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	s.cfg.Overload.SetDefaults()
	s.cfg.Overload.SocketDelay = 30 * time.Millisecond
	s.cfg.Overload.Interval = 20 * time.Millisecond // the window of the standing delay
	s.cfg.Overload.Hold = 50 * time.Millisecond     // how long the log's spell of refusals outlasts the last
	// min_cpu stays at its default and nothing samples Hotline's CPU: it
	// counts as idle. The wait is judged whoever holds the cores.
	s.overload = overload.NewDetector(s.cfg.Overload)
	c := s.newShedConn(srvSock.c, metrics.SocketShared)
	if c.udp == nil {
		t.Fatal("the door does not read arrival stamps")
	}
	dst := srvSock.c.LocalAddr().(*net.UDPAddr).AddrPort()
	u := newRawUA(t)
	// Linux turns arrival stamping on for the whole stack a moment after
	// the first socket asks (until then a datagram is stamped when it is
	// read): wait until a datagram that waited 20 ms says so.
	probe := make([]byte, 64)
	for i := 0; ; i++ {
		u.send([]byte("probe"), dst)
		time.Sleep(20 * time.Millisecond)
		if _, _, err := c.read(probe); err != nil {
			t.Fatal(err)
		}
		if time.Since(c.arrived) >= 15*time.Millisecond {
			break
		}
		if i == 50 {
			t.Fatal("arrival stamps never show how long a datagram waited")
		}
	}
	buf := make([]byte, 65536)
	_ = srvSock.c.SetReadDeadline(time.Now().Add(waitTimeout))
	// A stall: the probes before waited 20 ms each, under socket_delay.
	u.send(u.invite("stall-1", "stall1"), dst)
	time.Sleep(80 * time.Millisecond)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf[:n], []byte("Call-ID: stall-1\r\n")) {
		t.Fatalf("datagram through the door: %q, want the INVITE that waited after short waits", buf[:n])
	}
	// A standing queue: the datagrams of the window before (the stalled
	// INVITE) waited 80 ms too.
	reread := bytes.Replace(doorInviteFull, []byte("To: <sip:1900@127.0.0.1:5060>"), []byte("To: <sip:1900@127.0.0.1:5060>;tag=h1"), 1)
	u.send(u.invite("late-1", "late1"), dst)
	u.send(reread, dst)
	time.Sleep(80 * time.Millisecond)
	u.send(u.invite("fresh-1", "fresh1"), dst)

	n, _, err = c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := buf[:n]; !bytes.Equal(got, reread) {
		t.Fatalf("first datagram through the door: %q, want the re-INVITE (the late INVITE refused)", got)
	}
	n, _, err = c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf[:n], []byte("Call-ID: fresh-1\r\n")) {
		t.Fatalf("second datagram through the door: %q, want the fresh INVITE", buf[:n])
	}
	res := u.next()
	if res.StatusCode != 503 || res.CallID().Value() != "late-1" || header(res, "Retry-After") != "5" {
		t.Fatalf("the late INVITE got %d %s (Call-ID %q), want 503 with Retry-After", res.StatusCode, res.Reason, res.CallID().Value())
	}
	// The operator reads in the log when the door started refusing for
	// the socket's delay and, at the first new call admitted once it
	// refused none for hold, that it is over, as for the detector's
	// signals. The fresh INVITE right after the refusal did not end it.
	refused := regexp.MustCompile(`level=WARN msg="overloaded: new calls are refused" component=overload reason=socket_delay waited=\d+ms socket_delay=30ms`)
	if got := logs.String(); !refused.MatchString(got) || strings.Contains(got, "admitted again") {
		t.Errorf("log:\n%s\nwant one line as the door starts refusing (socket_delay), none yet that it is over", got)
	}
	time.Sleep(s.cfg.Overload.Hold)
	u.send(u.invite("after-1", "after1"), dst)
	if n, _, err = c.ReadFrom(buf); err != nil || !bytes.Contains(buf[:n], []byte("Call-ID: after-1\r\n")) {
		t.Fatalf("datagram through the door: %q (%v), want the INVITE after the spell", buf[:n], err)
	}
	again := regexp.MustCompile(`level=INFO msg="overload over: new calls are admitted again" component=overload reason=socket_delay refused=1 for=0s`)
	if got := logs.String(); !again.MatchString(got) || strings.Count(got, "\n") != 2 {
		t.Errorf("log:\n%s\nwant one line as the door starts refusing (socket_delay) and one as the spell is over", got)
	}
}

// inviteDoor is the door of a stand-in for Hotline's INVITE socket with
// arrival stamps (64-bit Linux), socket_delay 30 ms and a 20 ms interval.
func inviteDoor(t *testing.T) (*Server, *rawUA, *shedConn) {
	t.Helper()
	srvSock := newRawUA(t)
	if !rxstamp.Enable(srvSock.c) {
		if runtime.GOOS == "linux" {
			t.Fatal("no kernel arrival stamps (SO_TIMESTAMPNS) on Linux")
		}
		t.Skip("arrival stamps are read on 64-bit Linux only")
	}
	s := &Server{cfg: Config{UserAgent: "Hotline test"}, log: testLogger(t)}
	s.cfg.Overload.SetDefaults()
	s.cfg.Overload.SocketDelay = 30 * time.Millisecond
	s.cfg.Overload.Interval = 20 * time.Millisecond
	s.overload = overload.NewDetector(s.cfg.Overload)
	return s, srvSock, s.newShedConn(srvSock.c, metrics.SocketInvites)
}

// TestDoorRefusesWhileOthersWait: on the INVITE socket, a new INVITE
// that did not wait itself is refused (socket_delay) while the other
// socket's queue (the admitted calls' answers and in-dialog requests)
// stands over socket_delay, and let in once that measure is two windows
// old (nothing read there since).
func TestDoorRefusesWhileOthersWait(t *testing.T) {
	s, srvSock, c := inviteDoor(t)
	others := &shedConn{queue: standingDelay{window: s.cfg.Overload.Interval}}
	c.others = others
	// The other socket: every datagram of its last window waited 80 ms.
	t0 := time.Now()
	others.queue.add(t0.Add(-40*time.Millisecond), 80*time.Millisecond)
	others.queue.add(t0.Add(-20*time.Millisecond), 90*time.Millisecond)
	others.queue.add(t0, 85*time.Millisecond)
	dst := srvSock.c.LocalAddr().(*net.UDPAddr).AddrPort()
	u := newRawUA(t)
	buf := make([]byte, 65536)
	_ = srvSock.c.SetReadDeadline(time.Now().Add(waitTimeout))
	u.send(u.invite("behind-1", "behind1"), dst)
	u.send(u.invite("behind-2", "behind2"), dst)
	// Both refused at the door: ReadFrom returns only once the measure
	// has aged (the probe below), so read in the background.
	got := make(chan []byte, 1)
	go func() {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			got <- nil
			return
		}
		got <- append([]byte(nil), buf[:n]...)
	}()
	for _, id := range []string{"behind-1", "behind-2"} {
		res := u.next()
		if res.StatusCode != 503 || res.CallID().Value() != id {
			t.Fatalf("INVITE %s got %d %s (Call-ID %q), want 503", id, res.StatusCode, res.Reason, res.CallID().Value())
		}
	}
	// Two windows later nothing has been read from the other socket:
	// its measure no longer counts.
	time.Sleep(2*s.cfg.Overload.Interval + 10*time.Millisecond)
	u.send(u.invite("after-1", "after1"), dst)
	select {
	case b := <-got:
		if !bytes.Contains(b, []byte("Call-ID: after-1\r\n")) {
			t.Fatalf("datagram through the door: %q, want the INVITE sent after the measure aged", b)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the INVITE sent after the other socket's measure aged was not let through")
	}
}

// TestDoorRefusesWhileOthersReaderIsHeldUp: the other socket's reader
// has read nothing for two windows (so its standing delay says nothing)
// while a datagram has waited in its queue longer than a window and
// socket_delay: its reader is held up, not idle, and a new INVITE is
// refused (socket_delay). Once that queue is read, new INVITEs are let
// in again; an empty queue read nothing from is idle.
func TestDoorRefusesWhileOthersReaderIsHeldUp(t *testing.T) {
	s, srvSock, c := inviteDoor(t)
	otherSock := newRawUA(t) // the socket beside it
	if !rxstamp.Enable(otherSock.c) {
		t.Fatal("no kernel arrival stamps on the other socket")
	}
	c.others = s.newShedConn(otherSock.c, metrics.SocketOthers)
	dst := srvSock.c.LocalAddr().(*net.UDPAddr).AddrPort()
	u := newRawUA(t)
	buf := make([]byte, 65536)
	readThrough := func(id string) {
		t.Helper()
		_ = srvSock.c.SetReadDeadline(time.Now().Add(waitTimeout))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("INVITE %s not let through: %v", id, err)
		}
		if !bytes.Contains(buf[:n], []byte("Call-ID: "+id+"\r\n")) {
			t.Fatalf("datagram through the door: %q, want INVITE %s", buf[:n], id)
		}
	}
	// Nothing waits beside: let in.
	u.send(u.invite("idle-1", "idle1"), dst)
	readThrough("idle-1")

	// An ACK waits in the other socket, unread, past a window and
	// socket_delay.
	u.send(crlf("ACK sip:1900@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKack\nContent-Length: 0\n\n"),
		otherSock.c.LocalAddr().(*net.UDPAddr).AddrPort())
	time.Sleep(60 * time.Millisecond)
	u.send(u.invite("held-1", "held1"), dst)
	got := make(chan error, 1)
	go func() {
		_ = srvSock.c.SetReadDeadline(time.Now().Add(waitTimeout))
		n, _, err := c.ReadFrom(buf)
		if err == nil && !bytes.Contains(buf[:n], []byte("Call-ID: after-1\r\n")) {
			err = fmt.Errorf("datagram through the door: %q, want INVITE after-1", buf[:n])
		}
		got <- err
	}()
	if res := u.next(); res.StatusCode != 503 || res.CallID().Value() != "held-1" {
		t.Fatalf("INVITE held-1 got %d %s (Call-ID %q), want 503 while the other reader is held up", res.StatusCode, res.Reason, res.CallID().Value())
	}
	// The other reader gets to its queue: new calls are let in again.
	ob := make([]byte, 2048)
	_ = otherSock.c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, _, err := c.others.ReadFrom(ob); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * peekEvery)
	u.send(u.invite("after-1", "after1"), dst)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestDoorStandingDelay: the door's standing delay is the least wait of
// the datagrams read in the last whole window: a stall (one datagram
// that waited long after short waits) does not make it stand; a window
// in which every datagram waited does; one short wait ends it.
func TestDoorStandingDelay(t *testing.T) {
	const d = 50 * time.Millisecond
	q := standingDelay{window: 100 * time.Millisecond}
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		at     int
		waited time.Duration
		stands bool
	}{
		{0, time.Millisecond, false},
		{50, 2 * time.Millisecond, false},
		{100, 300 * time.Millisecond, false}, // a stall: the window before had short waits
		{150, 250 * time.Millisecond, false},
		{200, 200 * time.Millisecond, true}, // every datagram of 100-200 waited over 50 ms
		{250, 120 * time.Millisecond, true},
		{280, 10 * time.Millisecond, true},  // the window is not over yet
		{300, 60 * time.Millisecond, false}, // 200-300 had a short wait
		{5000, 80 * time.Millisecond, true}, // 300-5000: its one datagram waited 60 ms
		{5001, time.Millisecond, true},      // stands still (the door lets this one in: it did not wait)
		{5100, time.Millisecond, false},
	}
	for i, s := range steps {
		q.add(at(s.at), s.waited)
		if got := q.stands(d); got != s.stands {
			t.Fatalf("step %d (%d ms, waited %s): stands %v, want %v", i, s.at, s.waited, got, s.stands)
		}
	}
}

// TestMaxCPS: with sip.overload.max_cps 1, one new call is admitted; a
// second new call within the second gets 503 with Retry-After at once,
// from the door over UDP and from the handler over TCP, both counted
// under reason max_cps; a new call a second later is admitted again.
func TestMaxCPS(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.Overload.MaxCPS = 1
		o.cfg.Listen = append(o.cfg.Listen, Listener{Transport: "tcp", Addr: "127.0.0.1:0"})
		o.deps = func(d *Deps) { d.Metrics = m }
	})
	a := newRawUA(t)
	t0 := time.Now()
	a.send(a.invite("cps-a", "cpsa"), f.addr)
	okA, seen := a.final(sip.INVITE)
	if okA.StatusCode != 200 {
		t.Fatalf("first new call: responses %v, want 200 (queued, answered)", seen)
	}

	b := newRawUA(t)
	b.send(b.invite("cps-b", "cpsb"), f.addr)
	res := b.next()
	if tag, _ := res.To().Params.Get("tag"); res.StatusCode != 503 || header(res, "Retry-After") != "5" || !strings.HasPrefix(tag, doorTagPrefix) {
		t.Fatalf("second new call within the second (max_cps 1): %d %s, Retry-After %q, To tag %q; want the door's 503 with Retry-After 5",
			res.StatusCode, res.Reason, header(res, "Retry-After"), tag)
	}
	b.send(b.inDialog("ACK", 1, res, "cpsb"), f.addr)
	tcpRes := tcpRequest(t, f.srv.Addr("tcp").String(), bytes.ReplaceAll(b.invite("cps-tcp", "cpstcp"),
		[]byte("SIP/2.0/UDP"), []byte("SIP/2.0/TCP")))
	if ttag, _ := tcpRes.To().Params.Get("tag"); tcpRes.StatusCode != 503 || strings.HasPrefix(ttag, doorTagPrefix) {
		t.Errorf("new call over TCP within the second: %d with To tag %q, want 503 from the handler", tcpRes.StatusCode, ttag)
	}
	if since := time.Since(t0); since >= time.Second {
		t.Fatalf("the refusals took %s: the bucket may have refilled, the test proves nothing", since)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameCallsRefused, "reason", "max_cps"); got != 2 {
		t.Errorf("%s{reason=max_cps} = %g, want 2 (UDP at the door, TCP in the handler)", metrics.NameCallsRefused, got)
	}

	time.Sleep(time.Until(t0.Add(1100 * time.Millisecond)))
	c := newRawUA(t)
	c.send(c.invite("cps-c", "cpsc"), f.addr)
	okC, seen := c.final(sip.INVITE)
	if okC.StatusCode != 200 {
		t.Fatalf("new call a second later: responses %v, want 200", seen)
	}
	if got := promtest.GaugeSum(t, m.Registry(), metrics.NameOverloadMaxCPS); got != 1 {
		t.Errorf("%s = %g, want 1", metrics.NameOverloadMaxCPS, got)
	}

	// A reload takes the bound out (SetMaxCPS): two new calls right
	// after c's are both answered, and the gauge reads 0.
	if !f.srv.SetMaxCPS(0) {
		t.Fatal("SetMaxCPS: overload control is on, want true")
	}
	if got := promtest.GaugeSum(t, m.Registry(), metrics.NameOverloadMaxCPS); got != 0 {
		t.Errorf("%s = %g after SetMaxCPS(0), want 0", metrics.NameOverloadMaxCPS, got)
	}
	d, e := newRawUA(t), newRawUA(t)
	d.send(d.invite("cps-d", "cpsd"), f.addr)
	e.send(e.invite("cps-e", "cpse"), f.addr)
	okD, seenD := d.final(sip.INVITE)
	okE, seenE := e.final(sip.INVITE)
	if okD.StatusCode != 200 || okE.StatusCode != 200 {
		t.Fatalf("two new calls at once with the bound taken out: responses %v and %v, want 200 each", seenD, seenE)
	}
	a.ackAndHangUp(t, okA, "cpsa", f.addr)
	c.ackAndHangUp(t, okC, "cpsc", f.addr)
	d.ackAndHangUp(t, okD, "cpsd", f.addr)
	e.ackAndHangUp(t, okE, "cpse", f.addr)
	f.checkIdle()
}

// TestLearnedRateAtTheDoor (sip.overload.learn): after shedding has
// started and the share refused is back to none, the door still holds
// new calls to the rate learned when it started (here the least, one a
// second: nothing was admitted before), refusing those past it at once
// with the overload's reason; the gauge shows the rate.
func TestLearnedRateAtTheDoor(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.Overload.Hold = 300 * time.Millisecond
		o.cfg.Overload.Confirm = 1 // one sample trips: the monitor's own samples cannot come between
		o.deps = func(d *Deps) { d.Metrics = m }
	})
	d := f.srv.overload
	// The media relay a second behind (the signal the test fixture
	// leaves on).
	if st := d.Update(time.Now(), overload.Reading{RTPDelay: time.Second}); !st.Shedding || st.Learned != 1 {
		t.Fatalf("tripped: %+v, want shedding with a learned rate of 1 a second", st)
	}
	// The monitor's own (quiet) samples release the share after Hold
	// and the ramp.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if on, _ := d.Shedding(); !on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still shedding 10 s after the trip, want the share released")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := d.Learned(); got != 1 {
		t.Fatalf("learned rate %g once released, want 1", got)
	}
	a, b := newRawUA(t), newRawUA(t)
	a.send(a.invite("learn-a", "learna"), f.addr)
	b.send(b.invite("learn-b", "learnb"), f.addr)
	okA, seen := a.final(sip.INVITE)
	if okA.StatusCode != 200 {
		t.Fatalf("first new call at the learned rate: responses %v, want 200", seen)
	}
	res := b.next()
	if tag, _ := res.To().Params.Get("tag"); res.StatusCode != 503 || header(res, "Retry-After") != "5" || !strings.HasPrefix(tag, doorTagPrefix) {
		t.Fatalf("second new call at once, past the learned rate: %d %s, To tag %q; want the door's 503 with Retry-After 5", res.StatusCode, res.Reason, tag)
	}
	b.send(b.inDialog("ACK", 1, res, "learnb"), f.addr)
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameCallsRefused, "reason", "rtp_delay"); got != 1 {
		t.Errorf("%s{reason=rtp_delay} = %g, want 1 (the overload that set the rate)", metrics.NameCallsRefused, got)
	}
	if got := promtest.GaugeSum(t, m.Registry(), metrics.NameOverloadLearnedCPS); got != 1 {
		t.Errorf("%s = %g, want 1", metrics.NameOverloadLearnedCPS, got)
	}
	a.ackAndHangUp(t, okA, "learna", f.addr)
	f.checkIdle()
}
