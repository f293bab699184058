package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rawPeer is a SIP peer on 127.0.0.1 that writes bytes as given, over
// UDP, and reads what Hotline answers.
type rawPeer struct {
	t       *testing.T
	conn    *net.UDPConn
	port    int
	rtpPort int // where Hotline's RTP goes (read only by tests that ask)
	rtp     *net.UDPConn
	dst     *net.UDPAddr
	n       int
}

func newRawPeer(t *testing.T, srv *Server) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rtp.Close() })
	return &rawPeer{t: t, conn: c, port: c.LocalAddr().(*net.UDPAddr).Port,
		rtpPort: rtp.LocalAddr().(*net.UDPAddr).Port, rtp: rtp, dst: srv.Addr("udp").(*net.UDPAddr)}
}

// fill replaces the placeholders of fuzzReq for this peer; @ID@ becomes a
// token unique to the call of fill.
func (p *rawPeer) fill(msg string) string {
	p.n++
	return strings.NewReplacer("@PORT@", strconv.Itoa(p.port), "@RTP@", strconv.Itoa(p.rtpPort),
		"@ID@", p.t.Name()+strconv.Itoa(p.n)).Replace(msg)
}

func (p *rawPeer) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), p.dst); err != nil {
		p.t.Fatalf("send %d bytes: %v", len(msg), err)
	}
}

// next reads the next response (requests Hotline sends are skipped).
func (p *rawPeer) next() *sip.Response {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		msg, raw, err := p.nextMessage(deadline, "response")
		if err != nil {
			p.t.Fatalf("unparsable response: %v\n%s", err, raw)
		}
		if res, ok := msg.(*sip.Response); ok {
			return res
		}
	}
}

// nextMessage reads the next datagram on the peer's socket, which must
// come before deadline (else the test fails, saying what it waited for),
// and parses it.
func (p *rawPeer) nextMessage(deadline time.Time, what string) (sip.Message, []byte, error) {
	p.t.Helper()
	msg, raw, ok, err := p.readMessage(deadline)
	if !ok {
		p.t.Fatalf("no %s: %v", what, err)
	}
	return msg, raw, err
}

// readMessage reads the next datagram on the peer's socket and parses
// it; ok is false (err the read's) when none came before deadline.
func (p *rawPeer) readMessage(deadline time.Time) (msg sip.Message, raw []byte, ok bool, err error) {
	buf := make([]byte, 65536)
	_ = p.conn.SetReadDeadline(deadline)
	n, err := p.conn.Read(buf)
	if err != nil {
		return nil, nil, false, err
	}
	msg, err = sip.ParseMessage(bytes.Clone(buf[:n]))
	return msg, buf[:n], true, err
}

// ask sends a request and returns its final response.
func (p *rawPeer) ask(msg string) *sip.Response {
	p.t.Helper()
	p.send(msg)
	for {
		if res := p.next(); res.StatusCode >= 200 {
			return res
		}
	}
}

// alive checks Hotline still answers OPTIONS with 200, and that nothing
// else was waiting for this peer: Hotline reads its UDP socket in order,
// so whatever an earlier datagram got was sent before this answer.
func (p *rawPeer) alive() {
	p.t.Helper()
	res := p.ask(p.fill(fuzzReq("OPTIONS", "1900", "@ID@-alive", "1", "", "", "")))
	if res.StatusCode != 200 || res.CSeq() == nil || res.CSeq().MethodName != sip.OPTIONS {
		p.t.Fatalf("OPTIONS: got %d %s (CSeq %v), want 200 to the OPTIONS", res.StatusCode, res.Reason, res.CSeq())
	}
}

// withHeaders inserts header lines after Max-Forwards.
func withHeaders(msg, lines string) string {
	return strings.Replace(msg, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\n"+lines, 1)
}

// without removes the header line starting with name.
func without(msg, name string) string {
	var out []string
	for _, l := range strings.Split(msg, "\r\n") {
		if !strings.HasPrefix(l, name+":") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n")
}

func wantStatus(t *testing.T, what string, res *sip.Response, code int, warning string) {
	t.Helper()
	if res.StatusCode != code {
		t.Errorf("%s: got %d %s, want %d", what, res.StatusCode, res.Reason, code)
		return
	}
	if w := header(res, "Warning"); warning != "" && !strings.Contains(w, warning) {
		t.Errorf("%s: Warning %q, want it to say %q", what, w, warning)
	}
}

func TestUDPDatagramFillingSipgoBufferGets513(t *testing.T) {
	f := newFixture(t)
	p := newRawPeer(t, f.srv)

	// The body alone is larger than sipgo's 32 KiB read buffer: sipgo
	// would cut it and drop the request, answering nothing.
	body := strings.Repeat("a=x-pad\r\n", 4000)
	res := p.ask(p.fill(fuzzInvite("1900", "@ID@", "1", "application/sdp", body)))
	wantStatus(t, "INVITE of 36 KB over UDP", res, 513, "use TCP")
	if res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE || res.CallID() == nil {
		t.Errorf("513 does not belong to the INVITE: CSeq %v Call-ID %v", res.CSeq(), res.CallID())
	}
	// Without Content-Length the body is the rest of the datagram: sipgo
	// would hand Hotline the first 32 KiB of it as if it were all.
	res = p.ask(without(p.fill(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "text/plain", body)), "Content-Length"))
	wantStatus(t, "OPTIONS of 36 KB over UDP without Content-Length", res, 513, "use TCP")

	// A header section that does not end within the buffer cannot be
	// answered: the datagram is dropped and nothing comes back for it.
	p.send(p.fill(withHeaders(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""), "X-Pad: "+strings.Repeat("x", 40000)+"\r\n")))
	p.alive()
	if f.srv.ActiveCalls() != 0 {
		t.Errorf("ActiveCalls = %d, want 0", f.srv.ActiveCalls())
	}
}

func TestOverLimitRequestsGet513(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			f := newFixture(t, func(o *fixtureOpts) {
				o.cfg.Listen = append(o.cfg.Listen, Listener{Transport: "tcp", Addr: "127.0.0.1:0"})
			})
			var ask func(string) *sip.Response
			p := newRawPeer(t, f.srv)
			if transport == "udp" {
				ask = p.ask
			} else {
				c := dialTCP(t, f.srv)
				ask = c.ask
			}
			sdpBody := fuzzSDP("sendrecv", "0 8 101")
			cases := []struct {
				name, msg, warning string
			}{
				{"SDP body over 16 KiB", fuzzInvite("1900", "@ID@", "1", "application/sdp",
					sdpBody+strings.Repeat("a=x-pad:0123456789\r\n", 900)), "body over"},
				{"300 header fields", withHeaders(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""),
					strings.Repeat("X-Pad: 1\r\n", 300)), "header fields"},
				{"a 9 KiB header", withHeaders(fuzzInvite("1900", "@ID@", "1", "application/sdp", sdpBody),
					"Subject: "+strings.Repeat("s", 9<<10)+"\r\n"), "a line over"},
				{"a 9 KiB Request-URI", strings.Replace(fuzzInvite("1900", "@ID@", "1", "application/sdp", sdpBody),
					"sip:1900@127.0.0.1 SIP/2.0", "sip:1900@127.0.0.1;x="+strings.Repeat("u", 9<<10)+" SIP/2.0", 1), "a line over"},
			}
			for _, tc := range cases {
				res := ask(p.fill(tc.msg))
				wantStatus(t, tc.name, res, 513, tc.warning)
			}
			// Just under the limits is fine.
			res := ask(p.fill(withHeaders(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""),
				strings.Repeat("X-Pad: 1\r\n", 200)+"Subject: "+strings.Repeat("s", 8000)+"\r\n")))
			wantStatus(t, "OPTIONS with 200 more headers and an 8000-byte one", res, 200, "")
			p.alive()
			f.checkIdle()
		})
	}
}

func TestRequestsMissingHeadersGet400(t *testing.T) {
	f := newFixture(t)
	p := newRawPeer(t, f.srv)
	sdpBody := fuzzSDP("sendrecv", "0")
	cases := []struct {
		name, msg, warning string
	}{
		// Both used to crash Hotline (nil pointer in the INVITE handler).
		{"INVITE to an unknown number without From", without(fuzzInvite("1234", "@ID@", "1", "application/sdp", sdpBody), "From"), "From"},
		{"INVITE with bad SDP without Call-ID", without(fuzzInvite("1900", "@ID@", "1", "application/sdp", "garbage"), "Call-ID"), "Call-ID"},
		{"INVITE without To", without(fuzzInvite("1900", "@ID@", "1", "application/sdp", sdpBody), "To"), "To"},
		{"BYE without From", without(fuzzReq("BYE", "1900", "@ID@", "1", ";tag=x", "", ""), "From"), "From"},
		{"OPTIONS with CSeq of another method", strings.Replace(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""),
			"CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1), "CSeq"},
	}
	for _, tc := range cases {
		res := p.ask(p.fill(tc.msg))
		wantStatus(t, tc.name, res, 400, tc.warning)
	}
	p.alive()
	f.checkIdle()
}

// tcpPeer is a SIP peer with one TCP connection to Hotline.
type tcpPeer struct {
	t    *testing.T
	conn net.Conn
	ps   *sip.ParserStream
	got  []sip.Message
}

func dialTCP(t *testing.T, srv *Server) *tcpPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr("tcp").String(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	p := &tcpPeer{t: t, conn: c, ps: sip.NewParser().NewSIPStream()}
	t.Cleanup(p.ps.Close)
	return p
}

// read returns the next message, or the error that ended the connection.
func (p *tcpPeer) read() (sip.Message, error) {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(waitTimeout)
	for len(p.got) == 0 {
		_ = p.conn.SetReadDeadline(deadline)
		n, err := p.conn.Read(buf)
		if err != nil {
			return nil, err
		}
		err = p.ps.ParseSIPStream(buf[:n], func(m sip.Message) { p.got = append(p.got, m) })
		if err != nil && !errors.Is(err, sip.ErrParseSipPartial) {
			p.t.Fatalf("unparsable stream from Hotline: %v", err)
		}
	}
	m := p.got[0]
	p.got = p.got[1:]
	return m, nil
}

func (p *tcpPeer) ask(msg string) *sip.Response {
	p.t.Helper()
	msg = strings.Replace(msg, "SIP/2.0/UDP", "SIP/2.0/TCP", 1)
	if _, err := p.conn.Write([]byte(msg)); err != nil {
		p.t.Fatalf("write: %v", err)
	}
	for {
		m, err := p.read()
		if err != nil {
			p.t.Fatalf("no response: %v", err)
		}
		if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 {
			return res
		}
	}
}

// closedByServer writes msg and expects Hotline to close the connection
// without answering.
func (p *tcpPeer) closedByServer(what, msg string) {
	p.t.Helper()
	// Hotline may close while the rest is still being written.
	_, _ = p.conn.Write([]byte(msg))
	m, err := p.read()
	switch {
	case err == nil:
		p.t.Errorf("%s: got %q, want the connection closed", what, m.String())
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), isReset(err):
	default:
		p.t.Errorf("%s: %v, want the connection closed", what, err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func TestTCPOversizedMessagesCloseTheConnection(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.Listen = append(o.cfg.Listen, Listener{Transport: "tcp", Addr: "127.0.0.1:0"})
	})
	u := newRawPeer(t, f.srv)
	// An INVITE's header section, with a Content-Length but no body.
	head := func(contentLength string) string {
		return strings.Replace(u.fill(fuzzInvite("1900", "@ID@", "1", "application/sdp", "")),
			"Content-Length: 0\r\n", "Content-Length: "+contentLength+"\r\n", 1)
	}
	// Hotline must not wait for (nor buffer) 100 MB it will never take.
	p := dialTCP(t, f.srv)
	p.closedByServer("Content-Length: 100000000", head("100000000"))
	p = dialTCP(t, f.srv)
	p.closedByServer("Content-Length just over 64 KiB", head("65536"))
	p = dialTCP(t, f.srv)
	p.closedByServer("a header section that never ends",
		strings.TrimSuffix(head("0"), "\r\n")+strings.Repeat("X-Pad: 0123456789abcdef\r\n", 3000))
	p = dialTCP(t, f.srv)
	p.closedByServer("Content-Length beyond 32 bits", head("99999999999"))

	// Within 64 KiB but over the body limit: answered, and the
	// connection goes on.
	p = dialTCP(t, f.srv)
	body := strings.Repeat("a=x-pad:0123456789\r\n", 2000)
	res := p.ask(u.fill(fuzzInvite("1900", "@ID@", "1", "application/sdp", body)))
	wantStatus(t, "40 KB INVITE over TCP", res, 513, "body over")
	res = p.ask(u.fill(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", "")))
	wantStatus(t, "OPTIONS after it on the same connection", res, 200, "")

	// The closed connections are gone from sipgo's pool, and Hotline
	// serves new ones.
	q := dialTCP(t, f.srv)
	wantStatus(t, "OPTIONS on a new connection", q.ask(u.fill(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""))), 200, "")
	u.alive()
	f.checkIdle()
}

// logBuffer collects log output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(b.buf.String(), "\n")
}

func TestSipgoLogLinesAreBounded(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv := startFuzzServer(t, log, nil)
	p := newRawPeer(t, srv)
	// sipgo logs an unparsable datagram whole, at ERROR.
	p.send(p.fill(strings.Replace(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""), "CSeq: 1 OPTIONS", "CSeq: x", 1) +
		strings.Repeat("garbage ", 3000)))
	p.alive()
	found := false
	for _, l := range logs.lines() {
		if strings.Contains(l, "component=sipgo") && strings.Contains(l, "failed to parse") {
			found = true
		}
		if len(l) > 4*maxLogAttrBytes {
			t.Errorf("log line of %d bytes: %.200s…", len(l), l)
		}
	}
	if !found {
		t.Errorf("no sipgo log line for the unparsable datagram in:\n%s", strings.Join(logs.lines(), "\n"))
	}
}

// A request that crossed several proxies is answered over UDP even when the
// response (which repeats every Via) is larger than sipgo's 1,300-byte
// default.
func TestUDPResponseLargerThanMTUIsSent(t *testing.T) {
	f := newFixture(t)
	p := newRawPeer(t, f.srv)
	var vias strings.Builder
	for i := range 40 {
		fmt.Fprintf(&vias, "Via: SIP/2.0/UDP 192.0.2.%d:5060;branch=z9hG4bK-proxy-%d\r\n", i+1, i)
	}
	res := p.ask(p.fill(withHeaders(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""), vias.String())))
	wantStatus(t, "OPTIONS through 40 proxies", res, 200, "")
	if n := len(res.GetHeaders("Via")); n != 41 {
		t.Errorf("response has %d Via headers, want 41", n)
	}
	if size := len(res.String()); size <= 1300 {
		t.Errorf("response is %d bytes: the test needs one over 1,300", size)
	}
}

// TestAFloodOfBadRequestsIsLoggedBounded: a scanner's flood of malformed
// requests and calls to numbers that do not exist gets every answer (400,
// 404), but the log gets floodBurst lines of each kind, and at shutdown
// one line each saying how many more came.
func TestAFloodOfBadRequestsIsLoggedBounded(t *testing.T) {
	var logs logBuffer
	srv := startFuzzServer(t, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	p := newRawPeer(t, srv)
	sdpBody := fuzzSDP("sendrecv", "0")
	const n = floodBurst + 25
	for range n {
		res := p.ask(p.fill(without(fuzzReq("OPTIONS", "1900", "@ID@", "1", "", "", ""), "From")))
		wantStatus(t, "OPTIONS without From", res, 400, "From")
		if res := p.ask(p.fill(fuzzInvite("1234", "@ID@", "1", "application/sdp", sdpBody))); res == nil || res.StatusCode != 404 {
			t.Fatalf("INVITE to an unknown number: %v, want 404", res)
		}
	}
	count := func(msg string) int {
		c := 0
		for _, l := range logs.lines() {
			if strings.Contains(l, `msg="`+msg+`"`) {
				c++
			}
		}
		return c
	}
	for _, msg := range []string{"SIP request refused", "call to unknown number"} {
		if c := count(msg); c != floodBurst {
			t.Errorf("%d lines %q for %d requests, want %d", c, msg, n, floodBurst)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"SIP request refused", "call to unknown number"} {
		var sum []string
		for _, l := range logs.lines() {
			if strings.Contains(l, `msg="`+msg+` (more like it, not logged one by one)"`) {
				sum = append(sum, l)
			}
		}
		if len(sum) != 1 || !strings.Contains(sum[0], "not_logged="+strconv.Itoa(n-floodBurst)) {
			t.Errorf("summary of %q at shutdown: %q, want one with not_logged=%d", msg, sum, n-floodBurst)
		}
	}
}
