package sip

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/rules"
	"hotline/sip/media"
	"hotline/sip/sdp"
)

// The fuzz inputs of FuzzSIPHandler are SIP messages with placeholders the
// harness fills in before sending (so that the fuzzer can build requests
// Hotline answers to the fuzzing UA, and calls whose media and BYE stay on
// this UA's sockets):
//
//	@PORT@  the fuzzing UA's SIP (UDP) port
//	@RTP@   its RTP port
//	@ID@    a token unique to the input's run (Call-IDs, tags)
//	@TOTAG@ over UDP, the To tag of Hotline's last answer to an INVITE of
//	        the input (for in-dialog requests); over TCP, where the input
//	        is sent at once, a tag of the same form Hotline never chose
//
// and every "z9hG4bK" branch cookie gets the token too, so that no input
// runs into the server transactions of an earlier one. Over UDP the input
// is split into datagrams at fuzzSep; over TCP it is one stream with the
// separators removed.
const fuzzSep = "\n~~~~\n"

// fuzzWait bounds the waits for Hotline while the seed corpus runs as a
// test (with -race, on a busy machine); fuzzing, the waits are shorter:
// the fuzzing engine takes an input running 10 s for a hang and kills the
// process, losing what the harness would have said.
const fuzzWait = 10 * time.Second

// fuzzWorkerWait is fuzzWait in a fuzzing process: an input may wait twice
// this for its answers, then this for the OPTIONS probe, for the calls to
// end and for leaked goroutines to drain.
const fuzzWorkerWait = 1500 * time.Millisecond

// errFuzzEnd ends the calls an input left behind.
var errFuzzEnd = errors.New("fuzz input done")

var fuzzLoopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// fuzzNoTag stands for @TOTAG@ while the harness checks an input: a tag of
// the form Hotline's (a UUID) that it never chose.
const fuzzNoTag = "00000000-0000-4000-8000-000000000000"

// fuzzSeeds are realistic requests and responses, with odd headers, in
// the placeholder form described above.
var fuzzSeeds = []string{
	// A call to the hotline, its ACK, a hold re-INVITE, INFO and BYE.
	fuzzInvite("1900", "@ID@-call", "1", "application/sdp", fuzzSDP("sendrecv", "0 8 101")) + fuzzSep +
		fuzzReq("INVITE", "1900", "@ID@-call", "2", ";tag=@TOTAG@", "application/sdp", fuzzSDP("sendonly", "0 101")) + fuzzSep +
		fuzzReq("INFO", "1900", "@ID@-call", "3", ";tag=@TOTAG@", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n") + fuzzSep +
		fuzzReq("BYE", "1900", "@ID@-call", "4", ";tag=@TOTAG@", "", ""),
	// A call cancelled before the answer.
	fuzzInvite("1900", "@ID@-c", "1", "application/sdp", fuzzSDP("sendrecv", "8")) + fuzzSep +
		strings.Replace(fuzzReq("CANCEL", "1900", "@ID@-c", "1", "", "", ""), "branch=z9hG4bK-@ID@-CANCEL-1", "branch=z9hG4bK-@ID@-INVITE-1", 1),
	// Rejected calls: unknown number, no SDP, garbage SDP, G.729 only, SRTP.
	fuzzInvite("1234", "@ID@-a", "1", "application/sdp", fuzzSDP("sendrecv", "0")),
	fuzzInvite("1900", "@ID@-b", "1", "", ""),
	fuzzInvite("1900", "@ID@-d", "1", "application/sdp", "v=0\r\nthis is not SDP\r\n"),
	fuzzInvite("1900", "@ID@-e", "1", "application/sdp", fuzzSDP("sendrecv", "18")),
	fuzzInvite("1900", "@ID@-f", "1", "application/sdp", strings.Replace(fuzzSDP("sendrecv", "0"), "RTP/AVP", "RTP/SAVP", 1)),
	fuzzInvite("1900", "@ID@-g", "1", "text/plain", "hello"),
	// A feature code without credentials, REGISTER without and with bad ones.
	fuzzInvite("*21", "@ID@-h", "1", "application/sdp", fuzzSDP("sendrecv", "0")),
	fuzzReq("REGISTER", "", "@ID@-r", "1", "", "", ""),
	strings.Replace(fuzzReq("REGISTER", "", "@ID@-r2", "2", "", "", ""), "Max-Forwards: 70\r\n",
		"Max-Forwards: 70\r\nAuthorization: Digest username=\"alice\", realm=\"hotline\", nonce=\"x\", uri=\"sip:127.0.0.1\", response=\"00\"\r\nExpires: 99999999999\r\n", 1),
	// OPTIONS, stray in-dialog requests, an unknown method.
	fuzzReq("OPTIONS", "1900", "@ID@-o", "1", "", "", ""),
	fuzzReq("BYE", "1900", "@ID@-nobody", "1", ";tag=x", "", ""),
	fuzzReq("INFO", "1900", "@ID@-nobody", "1", ";tag=x", "", ""),
	fuzzReq("REFER", "1900", "@ID@-nobody", "1", ";tag=x", "", ""),
	fuzzReq("CANCEL", "1900", "@ID@-nobody", "1", "", "", ""),
	fuzzReq("INVITE", "1900", "@ID@-nobody", "1", ";tag=x", "application/sdp", fuzzSDP("sendrecv", "0")),
	fuzzReq("MESSAGE", "1900", "@ID@-m", "1", "", "text/plain", "hi"),
	fuzzReq("ACK", "1900", "@ID@-nobody", "1", ";tag=x", "", ""),
	// Compact and folded headers, odd spacing, and missing headers.
	"INVITE sip:1900@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-@ID@-1;rport\r\n" +
		"f: \"A, B\" <sip:5551234@127.0.0.1>;tag=@ID@\r\nt:   <sip:1900@127.0.0.1>\r\ni: @ID@-compact\r\n" +
		"CSeq:   1\r\n  INVITE\r\nm: <sip:5551234@127.0.0.1:@PORT@>\r\nc: application/sdp\r\nl: " +
		strconv.Itoa(len(fuzzSDP("sendrecv", "0"))) + "\r\n\r\n" + fuzzSDP("sendrecv", "0"),
	"INVITE sip:1900@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-@ID@-1;rport\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
	"INVITE sip:1234@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-@ID@-1;rport\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
	"OPTIONS sip:1900@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-@ID@-1;rport\r\nCSeq: 1 OPTIONS\r\n\r\n",
	"BYE sip:1900@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;rport\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nCSeq: 1 BYE\r\n\r\n",
	// Responses nobody asked for.
	"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-@ID@-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: @ID@-resp\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
	"SIP/2.0 180 Ringing\r\nCSeq: 1 BYE\r\n\r\n",
	// Keep-alives and garbage.
	"\r\n\r\n",
	"\x00\x00\x00",
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
}

// fuzzReq renders a request from the fuzzing UA to Hotline.
func fuzzReq(method, user, callID, cseq, toParams, ctype, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:%s@127.0.0.1 SIP/2.0\r\n", method, user)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-@ID@-%s-%s;rport\r\n", method, cseq)
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("From: \"Caller\" <sip:5551234@127.0.0.1>;tag=@ID@\r\n")
	fmt.Fprintf(&b, "To: <sip:%s@127.0.0.1>%s\r\n", user, toParams)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	fmt.Fprintf(&b, "CSeq: %s %s\r\n", cseq, method)
	b.WriteString("Contact: <sip:5551234@127.0.0.1:@PORT@>;expires=60\r\n")
	b.WriteString("User-Agent: fuzz\r\n")
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func fuzzInvite(user, callID, cseq, ctype, body string) string {
	return fuzzReq("INVITE", user, callID, cseq, "", ctype, body)
}

// fuzzSDP is an offer for the fuzzing UA's RTP port.
func fuzzSDP(dir, pts string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
	fmt.Fprintf(&b, "m=audio @RTP@ RTP/AVP %s\r\n", pts)
	for _, pt := range strings.Fields(pts) {
		switch pt {
		case "0":
			b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
		case "8":
			b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
		case "18":
			b.WriteString("a=rtpmap:18 G729/8000\r\n")
		case "101":
			b.WriteString("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")
		}
	}
	fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", dir)
	return b.String()
}

// FuzzSIPHandler sends arbitrary bytes to a running Hotline SIP server,
// as a real peer would: UDP datagrams or a TCP stream from a client
// socket on 127.0.0.1. Whatever sipgo parses reaches Hotline's handlers
// (INVITE, re-INVITE, ACK, BYE, CANCEL, INFO, OPTIONS, REGISTER, feature
// codes). mode bit 0 picks TCP, bit 1 the server that accepts calls only
// from a trunk (the fuzzing UA is not one). After each input the calls it
// left are ended and the server must be idle: no call in the table, no
// RTP port in use, no goroutine or socket left over. Every request that
// expects one gets a final response with a sensible status: never a 2xx to
// a new INVITE without a usable SDP offer to a hotline number, or from a
// source that is not a trunk; never a 2xx to REGISTER without credentials;
// 481 to in-dialog requests for calls that do not exist.
//
// Inputs whose requests would make Hotline send anything anywhere but the
// fuzzing UA's own sockets (Via, Contact, Record-Route or SDP elsewhere)
// are skipped: the fuzzer must never send traffic off this UA.
func FuzzSIPHandler(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(byte(0), []byte(s))
		f.Add(byte(1), []byte(s))
		f.Add(byte(2), []byte(s))
	}
	h := newFuzzHarness(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		h.run(t, mode, data)
	})
}

// fuzzHarness is the fuzzing UA and the two servers it talks to.
type fuzzHarness struct {
	open       *Server // calls from anywhere
	restricted *Server // calls only from a trunk (192.0.2.1) or with credentials

	conn    *net.UDPConn // the fuzzing UA's SIP socket
	port    int
	rtp     *net.UDPConn // its RTP socket; what arrives is dropped
	rtpPort int
	prefix  string
	seq     atomic.Uint64
	readers sync.WaitGroup

	mu  sync.Mutex
	cur *fuzzExec // the input being run
	// recent are the transactions of earlier inputs, by txSpot, per
	// server, with when they were sent: sipgo keeps a transaction for up
	// to 64*T1 (32 s) and takes a request that matches it for a
	// retransmission, answering it with the earlier answer or not at all.
	recent map[*Server]map[string]time.Time

	wait           time.Duration // fuzzWait, or fuzzWorkerWait when fuzzing
	baseGoroutines int
	baseFDs        int
}

func newFuzzHarness(tb testing.TB) *fuzzHarness {
	h := &fuzzHarness{prefix: strconv.FormatUint(rand.Uint64(), 36), wait: fuzzWait, recent: map[*Server]map[string]time.Time{}}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		h.wait = fuzzWorkerWait
	}
	var err error
	h.conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	h.port = h.conn.LocalAddr().(*net.UDPAddr).Port
	h.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		_ = h.conn.Close()
		tb.Fatal(err)
	}
	h.rtpPort = h.rtp.LocalAddr().(*net.UDPAddr).Port
	h.readers.Add(2)
	go h.readUDP()
	go func() {
		defer h.readers.Done()
		buf := make([]byte, 2048)
		for {
			if _, _, err := h.rtp.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		_ = h.conn.Close()
		_ = h.rtp.Close()
		h.readers.Wait()
	})
	h.open = startFuzzServer(tb, nil, nil)
	h.restricted = startFuzzServer(tb, nil, []string{"192.0.2.1"})
	// The servers are up and answering: what runs now is the baseline.
	for _, s := range []*Server{h.open, h.restricted} {
		if code, err := h.probe(s, nil); err != nil || code != 200 {
			tb.Fatalf("OPTIONS probe: %d %v", code, err)
		}
	}
	h.baseGoroutines = runtime.NumGoroutine()
	h.baseFDs = openFDs()
	return h
}

// startFuzzServer starts a Hotline SIP server on 127.0.0.1 (UDP and TCP,
// port 0) with hotline 1900 and an agent nobody registers, logging to log
// (nil: nowhere; HOTLINE_FUZZ_LOG=1: stderr). With trunks, calls from
// elsewhere must authenticate.
func startFuzzServer(tb testing.TB, log *slog.Logger, trunks []string) *Server {
	tb.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if os.Getenv("HOTLINE_FUZZ_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	base := 30000 + 2*rand.IntN(1000)
	cfg := Config{
		Listen:            []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}, {Transport: "tcp", Addr: "127.0.0.1:0"}},
		MaxCalls:          4,
		RetryAfter:        7 * time.Second,
		DrainTimeout:      time.Second,
		Trunks:            trunks,
		AuthenticateCalls: len(trunks) > 0,
	}
	rcfg := config.Config{
		Hotlines: []config.Hotline{{Number: "1900", Name: "Support"}},
		Agents:   []config.Agent{{Username: "alice", Password: agentPassword("alice"), Name: "Alice"}},
		Queue:    config.QueueConfig{RingTimeout: time.Second, RetryDelay: 30 * time.Second, MaxWait: 20 * time.Second},
	}
	mcfg := media.Config{IP: "127.0.0.1", PortMin: base, PortMax: base + 99, Timeout: -1, HoldTimeout: -1}
	cfg.SetDefaults()
	rcfg.SetDefaults()
	mcfg.SetDefaults()
	if err := errors.Join(cfg.Validate(), rcfg.Validate(), mcfg.Validate()); err != nil {
		tb.Fatalf("fuzz server configuration: %v", err)
	}
	router, err := rules.NewRouter(&rcfg)
	if err != nil {
		tb.Fatal(err)
	}
	acd, err := acd.New(&rcfg, acd.Options{Logger: log, LoginOnRegister: true})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := New(cfg, Deps{Log: log, Routes: &callflow.Routes{Config: &rcfg, Router: router, ACD: acd}, Media: &mcfg})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return srv
}

// fuzzExec is what one input's run has sent and received.
type fuzzExec struct {
	uris    map[string]sip.Uri // Request-URI of each request, by fuzzKey
	finals  map[string][]int   // final statuses received, by fuzzKey
	toTag   string             // of the last response to an INVITE
	garbled bool               // the TCP stream from Hotline did not parse
	arrived chan struct{}      // a response arrived
}

// fuzzKey ties a response to its request: what a response copies
// verbatim from the request.
func fuzzKey(m sip.Message) string {
	var b strings.Builder
	if v := m.Via(); v != nil {
		br, _ := v.Params.Get("branch")
		b.WriteString(br)
	}
	b.WriteByte('|')
	if c := m.CSeq(); c != nil {
		b.WriteString(string(c.MethodName))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(c.SeqNo), 10))
	}
	b.WriteByte('|')
	if c := m.CallID(); c != nil {
		b.WriteString(c.Value())
	}
	return b.String()
}

// readUDP is the fuzzing UA's SIP side: it answers Hotline's requests
// (BYE) with 200, ACKs final responses to INVITEs and hands responses to
// the input being run.
func (h *fuzzHarness) readUDP() {
	defer h.readers.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := h.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(bytes.Clone(buf[:n]))
		if err != nil {
			continue
		}
		send := func(b []byte) { _, _ = h.conn.WriteToUDPAddrPort(b, from) }
		switch m := msg.(type) {
		case *sip.Request:
			if !m.IsAck() {
				send([]byte(sip.NewResponseFromRequest(m, 200, "OK", nil).String()))
			}
		case *sip.Response:
			h.response(m, "UDP", send)
		}
	}
}

// response records a response for the input being run and ACKs it if it
// is a final response to an INVITE.
func (h *fuzzHarness) response(res *sip.Response, transport string, send func([]byte)) {
	key := fuzzKey(res)
	h.mu.Lock()
	cur := h.cur
	var uri sip.Uri
	if cur != nil {
		uri = cur.uris[key]
		if res.StatusCode >= 200 {
			cur.finals[key] = append(cur.finals[key], res.StatusCode)
		}
		if cs, to := res.CSeq(), res.To(); cs != nil && cs.MethodName == sip.INVITE && to != nil {
			if tag, _ := to.Params.Get("tag"); tag != "" {
				cur.toTag = tag
			}
		}
	}
	h.mu.Unlock()
	if cs := res.CSeq(); cs != nil && cs.MethodName == sip.INVITE && res.StatusCode >= 200 {
		if ack := h.ack(res, uri, transport); ack != nil {
			send(ack)
		}
	}
	if cur != nil {
		select {
		case cur.arrived <- struct{}{}:
		default:
		}
	}
}

// ack builds the ACK for a final response to an INVITE: in the INVITE's
// transaction for an error, a new one to the Contact for a 2xx.
func (h *fuzzHarness) ack(res *sip.Response, uri sip.Uri, transport string) []byte {
	from, to, callID, cseq, via := res.From(), res.To(), res.CallID(), res.CSeq(), res.Via()
	if from == nil || to == nil || callID == nil || via == nil {
		return nil
	}
	if uri.Host == "" {
		uri = sip.Uri{Scheme: "sip", User: "hotline", Host: "127.0.0.1"}
	}
	if res.IsSuccess() {
		if c := res.Contact(); c != nil {
			uri = c.Address
		}
		v := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport,
			Host: "127.0.0.1", Port: h.port, Params: sip.NewParams()}
		v.Params.Add("branch", sip.GenerateBranch())
		v.Params.Add("rport", "")
		via = v
	}
	req := sip.NewRequest(sip.ACK, uri)
	req.AppendHeader(sip.HeaderClone(via))
	req.AppendHeader(sip.HeaderClone(from))
	req.AppendHeader(sip.HeaderClone(to))
	req.AppendHeader(sip.HeaderClone(callID))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq.SeqNo, MethodName: sip.ACK})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.SetBody(nil)
	req.AppendHeader(sip.NewHeader("Content-Length", "0"))
	return []byte(req.String())
}

// probe sends OPTIONS over UDP and returns the final status. Hotline reads
// one UDP socket in order, so the answer also means every datagram sent
// before it has been read.
func (h *fuzzHarness) probe(s *Server, ex *fuzzExec) (int, error) {
	id := h.prefix + "-probe-" + strconv.FormatUint(h.seq.Add(1), 10)
	msg := strings.NewReplacer("@PORT@", strconv.Itoa(h.port), "@ID@", id, "@RTP@", "0").
		Replace(fuzzReq("OPTIONS", "1900", id, "1", "", "", ""))
	m, err := sip.ParseMessage([]byte(msg))
	if err != nil {
		return 0, err
	}
	key := fuzzKey(m)
	if ex == nil {
		ex = h.begin()
		defer h.end()
	}
	if _, err := h.conn.WriteToUDPAddrPort([]byte(msg), s.Addr("udp").(*net.UDPAddr).AddrPort()); err != nil {
		return 0, err
	}
	if codes := h.waitFinal(ex, key, time.Now().Add(h.wait), nil); len(codes) > 0 {
		return codes[0], nil
	}
	return 0, errors.New("no answer")
}

func (h *fuzzHarness) begin() *fuzzExec {
	ex := &fuzzExec{uris: map[string]sip.Uri{}, finals: map[string][]int{}, arrived: make(chan struct{}, 1)}
	h.mu.Lock()
	h.cur = ex
	h.mu.Unlock()
	return ex
}

func (h *fuzzHarness) end() {
	h.mu.Lock()
	h.cur = nil
	h.mu.Unlock()
}

// waitFinal waits until a final response for key has arrived (or closed
// is closed) and returns the final statuses so far.
func (h *fuzzHarness) waitFinal(ex *fuzzExec, key string, deadline time.Time, closed <-chan struct{}) []int {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		h.mu.Lock()
		codes := append([]int(nil), ex.finals[key]...)
		h.mu.Unlock()
		if len(codes) > 0 {
			return codes
		}
		select {
		case <-ex.arrived:
		case <-closed:
			return nil
		case <-timer.C:
			return nil
		}
	}
}

// safe tells whether everything Hotline could send because of req goes
// to the fuzzing UA: responses (top Via; sipgo answers UDP at the
// source address and the Via port, or the source port with rport), BYE
// and other in-dialog requests (Contact, Record-Route) and RTP (the SDP
// audio address).
func (h *fuzzHarness) safe(req *sip.Request) bool {
	for _, hdr := range req.Headers() {
		var u sip.Uri
		switch x := hdr.(type) {
		case *sip.ViaHeader:
			if x != req.Via() {
				continue // only the top Via is answered to
			}
			if x.Host != "127.0.0.1" || x.Params.Has("maddr") {
				return false
			}
			port := x.Port
			if port <= 0 {
				port = 5060
			}
			if r, ok := x.Params.Get("received"); ok && r != "" && r != "127.0.0.1" {
				return false
			}
			if r, ok := x.Params.Get("rport"); ok {
				if r == "" {
					port = h.port
				} else if p, err := strconv.Atoi(r); err == nil {
					port = p
				}
			}
			if port != h.port {
				return false
			}
			continue
		case *sip.ContactHeader:
			u = x.Address
		case *sip.RecordRouteHeader:
			u = x.Address
		case *sip.RouteHeader:
			u = x.Address
		default:
			switch strings.ToLower(hdr.Name()) {
			case "contact", "m", "record-route", "route":
				return false // not parsed as an address: do not guess
			}
			continue
		}
		if u.Host != "127.0.0.1" || u.Port != h.port || u.UriParams.Has("maddr") {
			return false
		}
	}
	if body := req.Body(); len(body) > 0 {
		if offer, err := sdp.Parse(body); err == nil {
			a := offer.Audio.Addr
			if a.Port() != 0 && (a.Addr() != fuzzLoopback || int(a.Port()) != h.rtpPort) {
				return false
			}
		}
	}
	return true
}

// fuzzMsg is one message of an input as sipgo parses it.
type fuzzMsg struct {
	raw []byte      // the datagram (UDP)
	msg sip.Message // nil: sipgo does not parse it
}

// parseUDP splits an input into datagrams and parses each as sipgo's UDP
// transport does.
func parseUDP(data []byte) []fuzzMsg {
	var out []fuzzMsg
	for i, d := range bytes.Split(data, []byte(fuzzSep)) {
		if i == 16 {
			break
		}
		m := fuzzMsg{raw: d}
		d = bytes.ReplaceAll(d, []byte("@TOTAG@"), []byte(fuzzNoTag))
		// sipgo reads a datagram into a buffer of TransportBufferReadSize.
		read := d[:min(len(d), int(sip.TransportBufferReadSize))]
		if len(bytes.Trim(read, "\x00")) > 0 && !(len(read) <= 4 && len(bytes.Trim(read, "\r\n")) == 0) {
			if msg, err := sip.ParseMessage(bytes.Clone(read)); err == nil {
				m.msg = msg
			}
		}
		out = append(out, m)
	}
	return out
}

// parseTCP parses a stream as sipgo's TCP transport does; err is nil
// when the stream ends on a message boundary or in a message that more
// data could complete.
func parseTCP(data []byte) ([]fuzzMsg, error) {
	var out []fuzzMsg
	ps := sip.NewParser().NewSIPStream()
	defer ps.Close()
	err := ps.ParseSIPStream(data, func(m sip.Message) { out = append(out, fuzzMsg{msg: m}) })
	if errors.Is(err, sip.ErrParseSipPartial) {
		err = nil
	}
	return out, err
}

// txSpot is what a request shares with any request sipgo may match it to
// as the same transaction (RFC 3261 §17.2.3, or RFC 2543 rules without a
// branch): Via, From tag, Call-ID and CSeq number, but not the method
// (CANCEL and ACK match an INVITE).
func txSpot(req *sip.Request) string {
	var b strings.Builder
	if v := req.Via(); v != nil {
		br, _ := v.Params.Get("branch")
		fmt.Fprintf(&b, "%s|%s|%d|", br, v.Host, v.Port)
	}
	if f := req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		b.WriteString(tag)
	}
	b.WriteByte('|')
	if c := req.CallID(); c != nil {
		b.WriteString(c.Value())
	}
	b.WriteByte('|')
	if c := req.CSeq(); c != nil {
		b.WriteString(strconv.FormatUint(uint64(c.SeqNo), 10))
	}
	return b.String()
}

// recentTx returns the transactions of recent inputs to s, forgetting
// those sipgo has forgotten.
func (h *fuzzHarness) recentTx(s *Server) map[string]time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.recent[s]
	if m == nil {
		m = map[string]time.Time{}
		h.recent[s] = m
	}
	if len(m) > 1000 {
		for k, at := range m {
			if time.Since(at) > 40*time.Second {
				delete(m, k)
			}
		}
	}
	return m
}

// dialogRoundTrips tells whether the headers Hotline builds in-dialog
// requests from (Contact, From, To, Record-Route) parse back as they were
// when sipgo renders them.
func dialogRoundTrips(req *sip.Request) bool {
	m, err := sip.ParseMessage([]byte(req.String()))
	if err != nil {
		return false
	}
	r2 := m.(*sip.Request)
	for _, name := range []string{"From", "To", "Contact"} {
		a, b := req.GetHeader(name), r2.GetHeader(name)
		if (a == nil) != (b == nil) || (a != nil && a.Value() != b.Value()) {
			return false
		}
	}
	if c := req.Contact(); c != nil {
		u := c.Address.String()
		var back sip.Uri
		if strings.ContainsAny(u, " \t\r\n") || sip.ParseUri(u, &back) != nil || back.String() != u {
			return false
		}
	}
	for _, rr := range req.GetHeaders("Record-Route") {
		if strings.ContainsAny(rr.Value(), " \t\r\n") {
			return false
		}
	}
	return true
}

// fitsUDP tells whether Hotline's answer to a request can go over UDP.
// sipgo v1.7.2 does not send a UDP message over sip.UDPMTUSize-200 (1300)
// bytes (ErrUDPMTUCongestion): an answer copies the request's Via,
// Record-Route, From, To, Call-ID and CSeq, and adds Hotline's headers and,
// to an INVITE, an SDP answer with a line per offered stream.
func fitsUDP(req *sip.Request) bool {
	size := len(sip.NewResponseFromRequest(req, 200, "OK", nil).String()) + 512
	if req.IsInvite() {
		size += len(req.Body())
	}
	return size <= sip.UDPMTUSize-200
}

// roundTrips tells whether sipgo parses its own rendering of a request
// back to the same transaction.
// The answer copies the request's Via, From, To, Call-ID and CSeq: when
// those do not parse back, neither does the answer, and the harness cannot
// tell what it answers.
func roundTrips(req *sip.Request) bool {
	m, err := sip.ParseMessage([]byte(req.String()))
	return err == nil && fuzzKey(m) == fuzzKey(req)
}

// request is what the harness expects of one request of an input.
type fuzzRequest struct {
	req    *sip.Request
	key    string
	expect bool // a final response is due
}

func (h *fuzzHarness) run(t *testing.T, mode byte, data []byte) {
	if len(data) > 64<<10 {
		return
	}
	tcp, srv := mode&1 == 1, h.open
	if mode&2 != 0 {
		srv = h.restricted
	}
	id := h.prefix + strconv.FormatUint(h.seq.Add(1), 36)
	data = bytes.ReplaceAll(data, []byte("z9hG4bK"), []byte("z9hG4bK"+id+"."))
	data = bytes.ReplaceAll(data, []byte("@ID@"), []byte(id))
	data = bytes.ReplaceAll(data, []byte("@PORT@"), []byte(strconv.Itoa(h.port)))
	data = bytes.ReplaceAll(data, []byte("@RTP@"), []byte(strconv.Itoa(h.rtpPort)))

	var msgs []fuzzMsg
	var streamErr error
	if tcp {
		data = bytes.ReplaceAll(data, []byte(fuzzSep), nil)
		data = bytes.ReplaceAll(data, []byte("@TOTAG@"), []byte(fuzzNoTag))
		msgs, streamErr = parseTCP(data)
	} else {
		msgs = parseUDP(data)
	}
	var reqs []fuzzRequest
	seen := map[string]bool{}
	recent := h.recentTx(srv)
	var spots []string
	for _, m := range msgs {
		req, ok := m.msg.(*sip.Request)
		if !ok {
			continue
		}
		if !h.safe(req) {
			t.Skip("the input would make Hotline send elsewhere than the fuzzing UA")
		}
		if srv == h.open && req.IsInvite() && unusableOffer(req) == "" && !dialogRoundTrips(req) {
			// Hotline may answer the call and, to end it, send a BYE
			// built from these headers, which the harness could not
			// read to answer: the BYE would wait 5 s for an answer.
			t.Skip("the input's call could not be hung up by the harness")
		}
		r := fuzzRequest{req: req, key: fuzzKey(req)}
		// A request repeating an earlier one's transaction is a
		// retransmission: it gets the earlier answer again, or none.
		spot := txSpot(req)
		_, old := recent[spot]
		r.expect = !req.IsAck() && !seen[r.key] && !old && streamErr == nil && roundTrips(req) && (tcp || fitsUDP(req))
		seen[r.key] = true
		spots = append(spots, spot)
		reqs = append(reqs, r)
	}
	for _, spot := range spots {
		recent[spot] = time.Now()
	}

	ex := h.begin()
	defer h.end()
	h.mu.Lock()
	for _, r := range reqs {
		ex.uris[r.key] = r.req.Recipient
	}
	h.mu.Unlock()

	var closed chan struct{}
	var tc net.Conn
	deadline := time.Now().Add(2 * h.wait) // for all of the input's answers
	if tcp {
		var err error
		tc, err = net.DialTimeout("tcp", srv.Addr("tcp").String(), h.wait)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		closed = make(chan struct{})
		go h.readTCP(tc, closed, srv.Addr("udp").(*net.UDPAddr).AddrPort())
		if _, err := tc.Write(data); err != nil {
			t.Logf("TCP write: %v", err)
		}
		for _, r := range reqs {
			if r.expect {
				h.waitFinal(ex, r.key, deadline, closed)
			}
		}
		// Hotline has read all of the stream once it closes the
		// connection on its end.
		_ = tc.(*net.TCPConn).CloseWrite()
		select {
		case <-closed:
		case <-time.After(h.wait):
			t.Fatal("Hotline did not close the TCP connection after its end")
		}
	} else {
		dst := srv.Addr("udp").(*net.UDPAddr).AddrPort()
		i := 0
		for _, m := range msgs {
			raw, send := m.raw, true
			if bytes.Contains(raw, []byte("@TOTAG@")) {
				h.mu.Lock()
				tag := ex.toTag
				h.mu.Unlock()
				if len(tag) != len(fuzzNoTag) {
					tag = fuzzNoTag
				}
				raw = bytes.ReplaceAll(raw, []byte("@TOTAG@"), []byte(tag))
				// The same message with Hotline's tag: checked again, and
				// its key may hold the tag too.
				msg, err := sip.ParseMessage(bytes.Clone(raw[:min(len(raw), int(sip.TransportBufferReadSize))]))
				r2, _ := msg.(*sip.Request)
				req, _ := m.msg.(*sip.Request)
				switch {
				case err != nil && m.msg == nil:
				case err != nil || m.msg == nil || (req == nil) != (r2 == nil):
					send = false // parses differently with this tag
				case r2 != nil && (!h.safe(r2) || r2.Method != req.Method):
					send = false
				case r2 != nil:
					reqs[i].req, reqs[i].key = r2, fuzzKey(r2)
					h.mu.Lock()
					ex.uris[reqs[i].key] = r2.Recipient
					h.mu.Unlock()
				}
			}
			if !send {
				if _, ok := m.msg.(*sip.Request); ok {
					reqs[i].expect = false
					i++
				}
				continue
			}
			if _, err := h.conn.WriteToUDPAddrPort(raw, dst); err != nil {
				t.Logf("UDP write: %v", err)
			}
			if _, ok := m.msg.(*sip.Request); ok {
				if r := reqs[i]; r.expect {
					codes := h.waitFinal(ex, r.key, deadline, nil)
					if r.req.IsInvite() && len(codes) > 0 && codes[0] < 300 {
						waitConfirmed(srv, r.req, deadline)
					}
				}
				i++
			}
		}
	}

	// Whatever the input did, the server still answers.
	if code, err := h.probe(srv, ex); err != nil || code != 200 {
		t.Fatalf("OPTIONS after the input: %d %v", code, err)
	}
	h.quiesce(t, srv)
	if tc != nil {
		_ = tc.Close()
		<-closed
	}
	h.check(t, srv == h.restricted, reqs, ex)
	h.checkLeaks(t)
}

// waitConfirmed waits until Hotline has the ACK for its answer to an
// INVITE (or the call is gone), so that what the input sends next is not
// a request racing the ACK (those get 500 with Retry-After).
func waitConfirmed(s *Server, req *sip.Request, deadline time.Time) {
	if req.CallID() == nil {
		return
	}
	for time.Now().Before(deadline) {
		s.mu.Lock()
		ref := s.table[req.CallID().Value()]
		s.mu.Unlock()
		if ref == nil || ref.leg.srv == nil || confirmed(ref.leg.srv) {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// readTCP reads Hotline's messages on a TCP connection of an input. ACKs
// go over UDP (to udp, Hotline's UDP address): the input may have left a
// message half written on the connection.
func (h *fuzzHarness) readTCP(c net.Conn, closed chan<- struct{}, udp netip.AddrPort) {
	defer close(closed)
	ps := sip.NewParser().NewSIPStream()
	defer ps.Close()
	buf := make([]byte, 65536)
	send := func(b []byte) { _, _ = c.Write(b) }
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		err = ps.ParseSIPStream(buf[:n], func(m sip.Message) {
			switch m := m.(type) {
			case *sip.Request:
				if !m.IsAck() {
					send([]byte(sip.NewResponseFromRequest(m, 200, "OK", nil).String()))
				}
			case *sip.Response:
				h.response(m, "UDP", func(b []byte) { _, _ = h.conn.WriteToUDPAddrPort(b, udp) })
			}
		})
		if err != nil && !errors.Is(err, sip.ErrParseSipPartial) {
			// An answer that does not parse (to a request that did
			// not either, in a way sipgo copies into answers) leaves
			// no message boundary to go on from.
			h.mu.Lock()
			if h.cur != nil {
				h.cur.garbled = true
			}
			h.mu.Unlock()
			return
		}
	}
}

// quiesce ends the calls an input left and waits until the server has
// none (call table empty, no call counted, every RTP port free) and no
// request is being handled: one the harness did not wait for (a
// retransmission, say) may still be on its way to start a call.
func (h *fuzzHarness) quiesce(t *testing.T, s *Server) {
	deadline := time.Now().Add(h.wait)
	for {
		s.mu.Lock()
		var calls []*call
		for _, ref := range s.table {
			calls = append(calls, ref.call)
		}
		for _, c := range s.byID {
			calls = append(calls, c)
		}
		s.mu.Unlock()
		for _, c := range calls {
			c.end(errFuzzEnd)
		}
		if len(calls) == 0 && s.ActiveCalls() == 0 && s.Ports().InUse() == 0 && !handling() {
			return
		}
		if time.Now().After(deadline) {
			var stuck strings.Builder
			for _, c := range calls {
				if c.caller != nil && c.caller.srv != nil {
					dlg := c.caller.srv
					fmt.Fprintf(&stuck, "\n-- call %s, dialog state %v, INVITE:\n%.2000s", c.ID(), dlg.LoadState(), dlg.InviteRequest.String())
				}
			}
			t.Fatalf("server not idle after the input: %d calls in the table, ActiveCalls = %d, RTP ports in use = %d%s",
				len(calls), s.ActiveCalls(), s.Ports().InUse(), stuck.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// handling tells whether sipgo is handling a request (in any server of
// this process): the OPTIONS probe's answer means every datagram sent
// before it has been read, and a goroutine started for each request.
func handling() bool {
	return bytes.Contains(allStacks(), []byte("sip.(*TransactionLayer).handleRequestBackground("))
}

// allStacks is the stack of every goroutine of the process.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// check holds the final responses of an input's requests to what Hotline
// promises.
func (h *fuzzHarness) check(t *testing.T, restricted bool, reqs []fuzzRequest, ex *fuzzExec) {
	h.mu.Lock()
	defer h.mu.Unlock()
	established := map[string]bool{} // Call-IDs of calls Hotline answered
	verbose := os.Getenv("HOTLINE_FUZZ_LOG") != ""
	for _, r := range reqs {
		codes := ex.finals[r.key]
		if verbose {
			t.Logf("%s (CSeq %v, expect %v): final %v", r.req.StartLine(), r.req.CSeq(), r.expect, codes)
		}
		if !r.expect {
			continue
		}
		if len(codes) == 0 {
			if !ex.garbled {
				t.Errorf("no final response to %s", r.req.StartLine())
			}
			continue
		}
		for _, c := range codes[1:] {
			if c != codes[0] {
				t.Errorf("%s: conflicting final responses %v", r.req.StartLine(), codes)
			}
		}
		code := codes[0]
		if code < 200 || code > 699 {
			t.Errorf("%s: final status %d", r.req.StartLine(), code)
		}
		callID := ""
		if c := r.req.CallID(); c != nil {
			callID = c.Value()
		}
		ok2xx := code >= 200 && code < 300
		tag := ""
		if to := r.req.To(); to != nil {
			tag, _ = to.Params.Get("tag")
		}
		switch r.req.Method {
		case sip.INVITE:
			if tag != "" {
				if ok2xx && !established[callID] {
					t.Errorf("%s: re-INVITE for a call Hotline never answered got %d", r.req.StartLine(), code)
				}
				if ok2xx && len(r.req.Body()) > 0 {
					if _, err := sdp.Parse(r.req.Body()); err != nil {
						t.Errorf("re-INVITE with bad SDP (%v) got %d", err, code)
					}
				}
				break
			}
			if ok2xx {
				if restricted {
					t.Errorf("%s from a source that is not a trunk, without credentials, got %d", r.req.StartLine(), code)
				}
				if reason := unusableOffer(r.req); reason != "" && r.req.Recipient.User == "1900" {
					t.Errorf("%s: INVITE with %s got %d", r.req.StartLine(), reason, code)
				}
				if r.req.Recipient.User != "1900" {
					t.Errorf("%s: INVITE to a number that is not a hotline got %d", r.req.StartLine(), code)
				}
				established[callID] = true
			}
		case sip.REGISTER:
			if ok2xx {
				t.Errorf("REGISTER without valid credentials got %d", code)
			}
		case sip.OPTIONS:
			if code != 200 && !refused(code) {
				t.Errorf("OPTIONS got %d", code)
			}
		case sip.BYE, sip.INFO:
			if ok2xx && !established[callID] {
				t.Errorf("%s for a call Hotline never answered got %d", r.req.StartLine(), code)
			}
			if !ok2xx && code != 481 && !refused(code) {
				t.Errorf("%s got %d, want 481 (or 400/505/513 for a malformed/oversized request)", r.req.StartLine(), code)
			}
		case sip.CANCEL:
			if !ok2xx && code != 481 && !refused(code) {
				t.Errorf("CANCEL got %d, want 200 or 481", code)
			}
		case sip.REFER:
			// No transfer is carried out yet (refer_server.go): every
			// REFER is refused, 481 outside a call.
			if code < 400 || (!established[callID] && code != 481 && !refused(code)) {
				t.Errorf("%s got %d, want a refusal (481 outside a call)", r.req.StartLine(), code)
			}
		default:
			if code != 405 && !refused(code) {
				t.Errorf("%s got %d, want 405 Method Not Allowed", r.req.StartLine(), code)
			}
		}
	}
}

// refused tells a status for a request Hotline does not take at all:
// malformed (400), another SIP version (505) or over the limits (513).
func refused(code int) bool { return code == 400 || code == 505 || code == 513 }

// unusableOffer says what is wrong with an INVITE's offer for Hotline
// ("" if nothing): no SDP, not SDP, no PCMU/PCMA over RTP/AVP, port 0.
func unusableOffer(req *sip.Request) string {
	if len(req.Body()) == 0 {
		return "no SDP"
	}
	if ct := req.ContentType(); ct != nil && !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		return "Content-Type " + ct.Value()
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		return "malformed SDP"
	}
	if p := strings.ToUpper(offer.Audio.Proto); p != "" && p != "RTP/AVP" && p != "RTP/AVPF" {
		return "media over " + p
	}
	if _, _, err := sdp.Negotiate(&offer.Audio, supportedCodecs); err != nil {
		return "no common codec"
	}
	if offer.Audio.Addr.Port() == 0 {
		return "audio port 0"
	}
	return ""
}

// checkLeaks fails an input after which goroutines or open files stay far
// above what ran before the first input. Goroutines sipgo keeps by design
// for a while are not counted: one per ACK to a rejected INVITE, until the
// transaction's timer (T4, 5 s) ends. A leak of one per input gets over
// the limit within seconds, and then does not drain.
func (h *fuzzHarness) checkLeaks(t *testing.T) {
	const goroutineLimit, fdLimit = 4096, 256
	over := func() (g, fds int, dump []byte) {
		g, fds = runtime.NumGoroutine(), openFDs()
		if g <= h.baseGoroutines+goroutineLimit && fds <= h.baseFDs+fdLimit {
			return g, fds, nil
		}
		dump = make([]byte, 64<<20)
		dump = dump[:runtime.Stack(dump, true)]
		g -= bytes.Count(dump, []byte("sip.(*ServerTx).ackSend("))
		if g <= h.baseGoroutines+goroutineLimit && fds <= h.baseFDs+fdLimit {
			return g, fds, nil
		}
		return g, fds, dump
	}
	deadline := time.Now().Add(h.wait)
	for {
		g, fds, dump := over()
		if dump == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines or files leak: %d goroutines (%d before the first input, sipgo's ACK waits not counted), %d open files (%d before)\n%.100000s",
				g, h.baseGoroutines, fds, h.baseFDs, dump)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openFDs counts the process's open files (0 where /proc is missing).
func openFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	return len(names)
}
