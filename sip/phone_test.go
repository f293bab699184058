package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"hotline/audio"
	"hotline/callflow"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/rules"
	"hotline/sip/media"
	"hotline/sip/sdp"
)

// waitTimeout bounds every wait for something the network should deliver.
const waitTimeout = 5 * time.Second

// handlerBound bounds how long a test phone keeps an unanswered INVITE.
const handlerBound = 15 * time.Second

// agentPassword is the digest password of every test agent.
func agentPassword(user string) string { return user + "-secret" }

// testWriter passes log lines to t.Log until the test is over.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testLogger logs to t (shown when the test fails or with -v) and goes
// quiet once the test and its cleanups are over.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { // registered first: runs last
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fixtureOpts is what a test may change before the server starts.
type fixtureOpts struct {
	cfg     Config
	routing config.Config
	media   media.Config
	// deps, when set, changes the server's dependencies before New.
	deps func(*Deps)
}

// fixture is a started Hotline SIP server on 127.0.0.1 with hotline 1900
// and agents alice, bob and carol.
type fixture struct {
	t    *testing.T
	srv  *Server
	acd  *acd.ACD
	addr netip.AddrPort // Hotline's UDP SIP address

	mu   sync.Mutex
	cdrs []callflow.Record
}

func newFixture(t *testing.T, mods ...func(*fixtureOpts)) *fixture {
	t.Helper()
	log := testLogger(t)
	// RTP ports of its own per test: a random even base in 30000-31998,
	// between the ranges Hotline's deployments, e2e tests and load bench
	// use (4000-29999: RTP arriving from a leftover peer there would latch
	// a leg onto it) and the kernel's ephemeral ports (32768+). Ports that
	// are taken anyway are skipped by Hotline.
	base := 30000 + 2*rand.IntN(1000)
	o := fixtureOpts{
		cfg: Config{
			Listen:       []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
			MaxCalls:     10,
			RetryAfter:   7 * time.Second,
			DrainTimeout: 2 * time.Second,
		},
		routing: config.Config{
			Hotlines: []config.Hotline{{Number: "1900", Name: "Support"}},
			Agents: []config.Agent{
				{Username: "alice", Password: agentPassword("alice"), Name: "Alice"},
				{Username: "bob", Password: agentPassword("bob"), Name: "Bob"},
				{Username: "carol", Password: agentPassword("carol"), Name: "Carol"},
			},
			Queue: config.QueueConfig{RingTimeout: time.Second, RetryDelay: 30 * time.Second, MaxWait: 20 * time.Second},
		},
		media: media.Config{IP: "127.0.0.1", PortMin: base, PortMax: base + 699, Timeout: -1, HoldTimeout: -1},
	}
	// The test machine is shared and busy: the overload signals that
	// follow its load (scheduling lag, socket backlog, CPU, recorder
	// drops, calls being set up at once) are off; overload_test.go drives overload control on purpose.
	ov := &o.cfg.Overload
	ov.SchedulingLag, ov.SocketBacklog, ov.CPU, ov.RecorderDrops, ov.MaxSetups, ov.SocketDelay, ov.QueueRefused = -1, -1, -1, -1, -1, -1, -1
	// Hotline's own reader is the door, as without a door process: the
	// tests of the door process (doorproc_linux_test.go and the door's
	// in overload_door_test.go) start one.
	separate := false
	ov.DoorProcess = &separate
	for _, m := range mods {
		m(&o)
	}
	o.cfg.SetDefaults()
	o.routing.SetDefaults()
	o.media.SetDefaults()
	if err := errors.Join(o.cfg.Validate(), o.media.Validate()); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	if err := o.routing.Validate(); err != nil {
		t.Fatalf("test routing configuration: %v", err)
	}
	router, err := rules.NewRouter(&o.routing)
	if err != nil {
		t.Fatal(err)
	}
	acd, err := acd.New(&o.routing, acd.Options{Logger: log, LoginOnRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, acd: acd}
	deps := Deps{Log: log, Routes: &callflow.Routes{Config: &o.routing, Router: router, ACD: acd}, Media: &o.media,
		OnCallEnd: func(r callflow.Record) {
			f.mu.Lock()
			f.cdrs = append(f.cdrs, r)
			f.mu.Unlock()
		}}
	if o.deps != nil {
		o.deps(&deps)
	}
	srv, err := New(o.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.addr = srv.Addr("udp").(*net.UDPAddr).AddrPort()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		f.checkIdle()
	})
	return f
}

// checkIdle waits until no call is in progress and every RTP port is free.
func (f *fixture) checkIdle() {
	f.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for f.srv.ActiveCalls() != 0 || f.srv.Ports().InUse() != 0 {
		if time.Now().After(deadline) {
			f.t.Errorf("after the calls: ActiveCalls = %d, RTP ports in use = %d, want 0 and 0",
				f.srv.ActiveCalls(), f.srv.Ports().InUse())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// record waits for the call record of a call (by the caller's Call-ID).
func (f *fixture) record(callID string) callflow.Record {
	f.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		f.mu.Lock()
		for _, r := range f.cdrs {
			if r.CallID == callID {
				f.mu.Unlock()
				return r
			}
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			f.t.Fatalf("no call record for %s", callID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// agentState returns the routing state of an agent.
func (f *fixture) agentState(user string) acd.AgentState {
	for _, a := range f.acd.Agents() {
		if a.Username == user {
			return a.State
		}
	}
	return ""
}

// wireResponse is a response to an INVITE as it arrived on the phone's
// socket.
type wireResponse struct {
	seq  uint32 // CSeq number: which INVITE it answers
	code int
}

// phone is a softphone on 127.0.0.1 built with sipgo: it registers, places
// and takes calls, and has an RTP socket. It records every SIP request it
// receives. INVITEs it receives wait in invites for the test to answer.
type phone struct {
	t       testing.TB
	user    string
	hotline netip.AddrPort
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	dua     *sipgo.DialogUA
	conn    net.PacketConn
	addr    netip.AddrPort // SIP
	rtp     *net.UDPConn
	rtpAddr netip.AddrPort
	served  chan struct{}
	invites chan *incoming
	// notifies are the sipfrag bodies of the NOTIFYs the phone received
	// (a transfer's progress), answered 200.
	notifies chan string

	mu       sync.Mutex
	closed   bool
	received []*sip.Request
	// inviteResps are the responses to INVITEs the phone received, by
	// Call-ID, in the order they came off its socket.
	inviteResps map[string][]wireResponse
	uas         map[string]*sipgo.DialogServerSession // calls it took, by Call-ID
	uac         map[string]*sipgo.DialogClientSession // calls it placed, by Call-ID
	calls       []*outCall
	sdpVer      uint64
	// authPass, when set, answers digest challenges to the phone's
	// INVITEs as user (feature codes).
	authPass string
}

// newPhone starts a phone for user that talks to the Hotline at hotline.
func newPhone(t testing.TB, user string, hotline netip.AddrPort) *phone {
	t.Helper()
	p := &phone{
		t:        t,
		user:     user,
		hotline:  hotline,
		served:   make(chan struct{}),
		invites:  make(chan *incoming, 8),
		notifies: make(chan string, 16),
		uas:      map[string]*sipgo.DialogServerSession{},
		uac:      map[string]*sipgo.DialogClientSession{},
		sdpVer:   1,

		inviteResps: map[string][]wireResponse{},
	}
	quiet := slog.New(slog.DiscardHandler)
	// record runs on the socket's one reader goroutine, so it sees
	// messages in the order they arrived. sipgo hands each response to
	// the transaction on a goroutine of its own, so a dialog may handle
	// a 180 before the 100 that came first; the order here is the one a
	// caller observes.
	record := func(_ sip.TransportReadProps, data []byte) ([]byte, error) {
		msg, err := sip.ParseMessage(bytes.Clone(data))
		if err != nil {
			return data, nil
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		switch m := msg.(type) {
		case *sip.Request:
			p.received = append(p.received, m)
		case *sip.Response:
			if cseq, id := m.CSeq(), m.CallID(); cseq != nil && id != nil && cseq.MethodName == sip.INVITE {
				p.inviteResps[id.Value()] = append(p.inviteResps[id.Value()], wireResponse{seq: cseq.SeqNo, code: m.StatusCode})
			}
		}
		return data, nil
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("test-phone-"+user), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(record), sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	p.ua = ua
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		_ = ua.Close()
		t.Fatal(err)
	}
	p.conn = conn
	p.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	p.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		_ = conn.Close()
		_ = ua.Close()
		t.Fatal(err)
	}
	p.rtpAddr = p.rtp.LocalAddr().(*net.UDPAddr).AddrPort()
	p.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	// Requests leave from the listening socket, as a softphone's do.
	p.cli, err = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"),
		sipgo.WithClientConnectionAddr(p.addr.String()), sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	p.dua = &sipgo.DialogUA{Client: p.cli, ContactHDR: sip.ContactHeader{Address: p.uri(user)}}
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(p.onAck)
	p.srv.OnBye(p.onBye)
	p.srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case p.notifies <- string(req.Body()):
		default:
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	p.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go func() {
		defer close(p.served)
		_ = p.srv.ServeUDP(conn)
	}()
	t.Cleanup(p.close)
	deadline := time.Now().Add(waitTimeout)
	for {
		if c, _ := ua.TransportLayer().GetConnection("udp", p.addr.String()); c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("phone's SIP listener did not start")
		}
		time.Sleep(time.Millisecond)
	}
	return p
}

// close hangs up nothing: it stops the phone like pulling its cable.
func (p *phone) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	calls := p.calls
	p.mu.Unlock()
	for _, c := range calls {
		c.cancel()
	}
	_ = p.ua.Close()
	_ = p.conn.Close()
	_ = p.rtpConn().Close()
	select {
	case <-p.served:
	case <-time.After(waitTimeout):
		p.t.Errorf("phone %s: SIP listener did not stop", p.user)
	}
	for _, c := range calls {
		select {
		case <-c.done:
		case <-time.After(waitTimeout):
			p.t.Errorf("phone %s: call %s did not end", p.user, c.id)
		}
	}
}

// uri is a SIP URI for user at this phone's SIP address.
func (p *phone) uri(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: p.addr.Addr().String(), Port: int(p.addr.Port())}
}

// hotlineURI is a SIP URI for user at Hotline.
func (p *phone) hotlineURI(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: p.hotline.Addr().String(), Port: int(p.hotline.Port())}
}

// sdp renders this phone's session description for its RTP socket.
func (p *phone) sdp(dir sdp.Direction, codecs ...audio.Codec) []byte {
	if len(codecs) == 0 {
		codecs = []audio.Codec{audio.PCMU(), audio.PCMA()}
	}
	te := audio.TelephoneEvent(101)
	p.mu.Lock()
	p.sdpVer++
	v, addr := p.sdpVer, p.rtpAddr
	p.mu.Unlock()
	l := sdp.Local{SessionID: 4242, Version: v, Addr: addr, Codecs: codecs, DTMF: &te, Direction: dir, PTime: 20}
	return l.Marshal()
}

// moveRTP gives the phone a new RTP socket (as after a network change);
// its SDP from now on names the new address.
func (p *phone) moveRTP() {
	p.t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	old := p.rtp
	p.rtp, p.rtpAddr = c, c.LocalAddr().(*net.UDPAddr).AddrPort()
	p.mu.Unlock()
	_ = old.Close()
}

// rtpConn is the phone's current RTP socket.
func (p *phone) rtpConn() *net.UDPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rtp
}

// requests returns the requests of a method received so far, for one
// Call-ID or ("" ) any.
func (p *phone) requests(method sip.RequestMethod, callID string) []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*sip.Request
	for _, r := range p.received {
		if r.Method != method {
			continue
		}
		if callID != "" && (r.CallID() == nil || r.CallID().Value() != callID) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// waitRequest waits until the phone has received a request of a method
// (for callID, or any with "") and returns the first.
func (p *phone) waitRequest(method sip.RequestMethod, callID string) *sip.Request {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if r := p.requests(method, callID); len(r) > 0 {
			return r[0]
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("phone %s: no %s received for call %q within %s", p.user, method, callID, waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// register registers the phone as agent user with digest authentication,
// with a Contact at its own SIP address.
func (p *phone) register(user string, extra ...sip.Header) {
	p.t.Helper()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.hotline.Addr().String(), Port: int(p.hotline.Port())})
	aor := sip.Uri{Scheme: "sip", User: user, Host: p.hotline.Addr().String()}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: p.uri(user)})
	req.AppendHeader(sip.NewHeader("Expires", "120"))
	for _, h := range extra {
		req.AppendHeader(h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := p.cli.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("REGISTER %s: %v", user, err)
	}
	if res.StatusCode == 401 {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: agentPassword(user)})
		if err != nil {
			p.t.Fatalf("REGISTER %s with credentials: %v", user, err)
		}
	}
	if res.StatusCode != 200 {
		p.t.Fatalf("REGISTER %s: got %d %s, want 200", user, res.StatusCode, res.Reason)
	}
}

// nextInvite waits for the next new INVITE the phone receives.
func (p *phone) nextInvite() *incoming {
	p.t.Helper()
	select {
	case in := <-p.invites:
		return in
	case <-time.After(waitTimeout):
		p.t.Fatalf("phone %s: no INVITE within %s", p.user, waitTimeout)
		return nil
	}
}

// noInvite checks that no new INVITE is waiting.
func (p *phone) noInvite() {
	p.t.Helper()
	select {
	case in := <-p.invites:
		p.t.Errorf("phone %s: unexpected INVITE %s", p.user, in.callID())
	default:
	}
}

// incoming is an INVITE a phone received; the test decides what the phone
// answers with ring, answer and reject.
type incoming struct {
	p     *phone
	req   *sip.Request
	dlg   *sipgo.DialogServerSession
	offer *sdp.Session
	acts  chan action
	done  chan struct{} // closed when the phone has finished with the INVITE
	err   error         // of the final response; read after done
}

func (in *incoming) callID() string { return in.req.CallID().Value() }

// action is a response the test wants the phone to send.
type action struct {
	code int
	body []byte // SDP of a 200; nil: the phone's own, PCMU
}

// ring makes the phone send 180 Ringing.
func (in *incoming) ring() { in.acts <- action{code: 180} }

// trying makes the phone send 100 Trying.
func (in *incoming) trying() { in.acts <- action{code: 100} }

// answer makes the phone answer 200 with its SDP; wait for the ACK with wait.
func (in *incoming) answer() { in.acts <- action{code: 200} }

// answerWith makes the phone answer 200 with body as its SDP.
func (in *incoming) answerWith(body []byte) { in.acts <- action{code: 200, body: body} }

// reject makes the phone answer with a final error status.
func (in *incoming) reject(code int) { in.acts <- action{code: code} }

// bye hangs up a call the phone answered.
func (in *incoming) bye() {
	in.p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := in.dlg.Bye(ctx); err != nil {
		in.p.t.Fatalf("agent BYE: %v", err)
	}
}

// wait waits until the phone is done with the INVITE (ACK received after
// an answer, or the transaction ended) and returns the answer's error.
func (in *incoming) wait() error {
	in.p.t.Helper()
	select {
	case <-in.done:
		return in.err
	case <-time.After(waitTimeout):
		in.p.t.Fatalf("phone %s: INVITE %s not finished", in.p.user, in.callID())
		return nil
	}
}

// remoteRTP is Hotline's RTP address from the INVITE's offer.
func (in *incoming) remoteRTP() netip.AddrPort { return in.offer.Audio.Addr }

func (p *phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
		p.onReInvite(req, tx)
		return
	}
	dlg, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		_ = dlg.Respond(488, "Not Acceptable Here", nil)
		return
	}
	in := &incoming{p: p, req: req, dlg: dlg, offer: offer, acts: make(chan action, 4), done: make(chan struct{})}
	p.mu.Lock()
	p.uas[in.callID()] = dlg
	p.mu.Unlock()
	defer close(in.done)
	select {
	case p.invites <- in:
	default:
		in.err = dlg.Respond(486, "Busy Here", nil)
		return
	}
	bound := time.NewTimer(handlerBound)
	defer bound.Stop()
	for {
		select {
		case act := <-in.acts:
			switch {
			case act.code < 200:
				reason := "Ringing"
				if act.code == 100 {
					reason = "Trying"
				}
				if err := dlg.Respond(act.code, reason, nil); err != nil {
					in.err = err
					return
				}
				continue
			case act.code == 200:
				body := act.body
				if body == nil {
					body = p.sdp(offer.Audio.Direction.Answer(), audio.PCMU())
				}
				in.err = dlg.RespondSDP(body)
			default:
				in.err = dlg.Respond(act.code, "Declined", nil)
			}
		case <-dlg.Context().Done():
			in.err = context.Cause(dlg.Context())
		case <-bound.C:
			in.err = dlg.Respond(480, "Temporarily Unavailable", nil)
		}
		return
	}
}

// onReInvite answers an INVITE within a dialog with the phone's SDP.
func (p *phone) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	id := req.CallID().Value()
	p.mu.Lock()
	uas, uac := p.uas[id], p.uac[id]
	p.mu.Unlock()
	var err error
	switch {
	case uas != nil:
		err = uas.ReadRequest(req, tx)
	case uac != nil:
		err = uac.ReadRequest(req, tx)
	default:
		err = sipgo.ErrDialogDoesNotExists
	}
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	dir := sdp.SendRecv
	if offer, err := sdp.Parse(req.Body()); err == nil {
		dir = offer.Audio.Direction.Answer()
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", p.sdp(dir, audio.PCMU()))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.HeaderClone(&p.dua.ContactHDR))
	_ = tx.Respond(res)
}

func (p *phone) onAck(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	dlg := p.uas[req.CallID().Value()]
	p.mu.Unlock()
	if dlg != nil {
		_ = dlg.ReadAck(req, tx)
	}
}

func (p *phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	id := req.CallID().Value()
	p.mu.Lock()
	uas, uac := p.uas[id], p.uac[id]
	p.mu.Unlock()
	var err error
	switch {
	case uas != nil:
		err = uas.ReadBye(req, tx)
	case uac != nil:
		err = uac.ReadBye(req, tx)
	default:
		err = sipgo.ErrDialogDoesNotExists
	}
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}

// outCall is a call the phone placed.
type outCall struct {
	p      *phone
	id     string
	dlg    *sipgo.DialogClientSession
	cancel context.CancelFunc
	done   chan struct{} // closed when WaitAnswer returned (and the 200 is ACKed)

	mu      sync.Mutex
	handled []int           // response statuses the dialog handled, in the order it did
	seqs    map[uint32]bool // CSeq numbers of the call's INVITEs (a digest retry has its own)
	err     error           // WaitAnswer's; read after done
}

// call places a call to a hotline number with an SDP offer.
func (p *phone) call(number string, offer []byte) *outCall {
	p.t.Helper()
	req := sip.NewRequest(sip.INVITE, p.hotlineURI(number))
	from := &sip.FromHeader{DisplayName: "Caller " + p.user, Address: sip.Uri{Scheme: "sip", User: p.user, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: p.hotlineURI(number)})
	req.AppendHeader(sip.HeaderClone(&p.dua.ContactHDR))
	if offer != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(offer)
	ctx, cancel := context.WithCancel(context.Background())
	dlg, err := p.dua.WriteInvite(ctx, req)
	if err != nil {
		cancel()
		p.t.Fatalf("INVITE: %v", err)
	}
	c := &outCall{p: p, id: req.CallID().Value(), dlg: dlg, cancel: cancel, done: make(chan struct{}),
		seqs: map[uint32]bool{req.CSeq().SeqNo: true}}
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.uac[c.id] = dlg
	p.mu.Unlock()
	go func() {
		defer close(c.done)
		err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.user, Password: p.authPass, OnResponse: func(r *sip.Response) error {
			c.mu.Lock()
			c.handled = append(c.handled, r.StatusCode)
			c.seqs[r.CSeq().SeqNo] = true
			c.mu.Unlock()
			return nil
		}})
		if err == nil {
			actx, acancel := context.WithTimeout(context.Background(), waitTimeout)
			err = dlg.Ack(actx)
			acancel()
		}
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}()
	return c
}

// statuses returns the codes of the responses to the call's INVITE (and
// its digest retries, not later re-INVITEs) that arrived so far, in the
// order they arrived, as a caller sees them. Retransmissions of a final
// response count once.
func (c *outCall) statuses() []int {
	c.mu.Lock()
	seqs := maps.Clone(c.seqs)
	c.mu.Unlock()
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	var codes []int
	final := map[uint32]bool{}
	for _, r := range c.p.inviteResps[c.id] {
		if !seqs[r.seq] || (r.code >= 200 && final[r.seq]) {
			continue
		}
		final[r.seq] = final[r.seq] || r.code >= 200
		codes = append(codes, r.code)
	}
	return codes
}

// waitStatus waits until a response with code has arrived and the call's
// dialog has handled it (a CANCEL may follow a provisional, say).
func (c *outCall) waitStatus(code int) {
	c.p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c.mu.Lock()
		handled := slices.Contains(c.handled, code)
		c.mu.Unlock()
		if handled { // so it also arrived, and statuses has it
			return
		}
		if time.Now().After(deadline) {
			c.p.t.Fatalf("call %s: no %d within %s; got %v", c.id, code, waitTimeout, c.statuses())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// result waits for the final response and returns it (the 487 after a
// CANCEL) with WaitAnswer's error.
func (c *outCall) result() (*sip.Response, error) {
	c.p.t.Helper()
	select {
	case <-c.done:
	case <-time.After(2 * waitTimeout):
		c.p.t.Fatalf("call %s: no final response; got %v", c.id, c.statuses())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlg.InviteResponse, c.err
}

// answered waits for the 200 and returns Hotline's SDP answer.
func (c *outCall) answered() *sdp.Session {
	c.p.t.Helper()
	res, err := c.result()
	if err != nil || res == nil || res.StatusCode != 200 {
		c.p.t.Fatalf("call %s: want 200 OK, got %v (error %v)", c.id, res, err)
	}
	if ct := res.ContentType(); ct == nil || ct.Value() != "application/sdp" {
		c.p.t.Fatalf("call %s: 200 has Content-Type %v, want application/sdp", c.id, ct)
	}
	s, err := sdp.Parse(res.Body())
	if err != nil {
		c.p.t.Fatalf("call %s: SDP of the 200: %v", c.id, err)
	}
	return s
}

// bye hangs up an answered call.
func (c *outCall) bye() {
	c.p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.dlg.Bye(ctx); err != nil {
		c.p.t.Fatalf("call %s: BYE: %v", c.id, err)
	}
}

// reinvite sends a re-INVITE with body, ACKs a 200 and returns the final
// response.
func (c *outCall) reinvite(body []byte) *sip.Response {
	c.p.t.Helper()
	return reinvite(c.p.t, body, c.dlg.InviteResponse.Contact().Address, c.dlg.Do, c.dlg.WriteRequest)
}

// reinvite sends a re-INVITE from a phone that took the call.
func (in *incoming) reinvite(body []byte) *sip.Response {
	in.p.t.Helper()
	return reinvite(in.p.t, body, in.req.Contact().Address, in.dlg.Do, in.dlg.WriteRequest)
}

func reinvite(t testing.TB, body []byte, target sip.Uri,
	do func(context.Context, *sip.Request) (*sip.Response, error), write func(*sip.Request) error) *sip.Response {
	t.Helper()
	req := sip.NewRequest(sip.INVITE, *target.Clone())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := do(ctx, req)
	if err != nil {
		t.Fatalf("re-INVITE: %v", err)
	}
	if res.IsSuccess() {
		if err := write(sip.NewRequest(sip.ACK, *target.Clone())); err != nil {
			t.Fatalf("ACK for re-INVITE: %v", err)
		}
	}
	return res
}

// request sends a request outside any dialog to Hotline and returns the
// final response. mod may change the request before it is sent.
func (p *phone) request(method sip.RequestMethod, user string, body []byte, mod func(*sip.Request)) *sip.Response {
	p.t.Helper()
	req := sip.NewRequest(method, p.hotlineURI(user))
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: p.hotlineURI(user)})
	req.AppendHeader(sip.HeaderClone(&p.dua.ContactHDR))
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	if mod != nil {
		mod(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := p.cli.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	return res
}

// RTP helpers.

// rtpStream sends RTP from a phone's socket to dst every 10 ms until
// stopped (at most 30 s).
type rtpStream struct {
	stop chan struct{}
	done chan struct{}
}

func (p *phone) sendRTP(dst netip.AddrPort, ssrc uint32) *rtpStream {
	return p.sendAudio(dst, ssrc, 0, 0xff) // PCMU silence
}

// sendAudio sends 20 ms packets of payload type pt whose every byte is
// sample.
func (p *phone) sendAudio(dst netip.AddrPort, ssrc uint32, pt uint8, sample byte) *rtpStream {
	s := &rtpStream{stop: make(chan struct{}), done: make(chan struct{})}
	conn := p.rtpConn()
	go func() {
		defer close(s.done)
		payload := bytes.Repeat([]byte{sample}, 160)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := range 3000 {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: ssrc}, Payload: payload}
			b, _ := pkt.Marshal()
			if _, err := conn.WriteToUDPAddrPort(b, dst); err != nil {
				return
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rtpStream) Stop() {
	close(s.stop)
	<-s.done
}

// rtpFrom reads the phone's RTP socket until it has got n packets with
// ssrc (any with 0) and returns the address the last came from.
func (p *phone) rtpFrom(ssrc uint32, n int) (netip.AddrPort, error) {
	_, src, err := p.rtpPackets(ssrc, n)
	return src, err
}

// rtpPackets reads the phone's RTP socket until it has got n packets with
// ssrc (any with 0) and returns them and the address the last came from.
func (p *phone) rtpPackets(ssrc uint32, n int) ([]rtp.Packet, netip.AddrPort, error) {
	return readRTP(p.rtpConn(), ssrc, n)
}

// readRTP reads conn until it has got n RTP packets with ssrc (any with
// 0), within waitTimeout, and returns them and the address the last came
// from.
func readRTP(conn *net.UDPConn, ssrc uint32, n int) ([]rtp.Packet, netip.AddrPort, error) {
	buf := make([]byte, 2048)
	deadline := time.Now().Add(waitTimeout)
	var got []rtp.Packet
	for {
		_ = conn.SetReadDeadline(deadline)
		k, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return got, src, fmt.Errorf("%d of %d RTP packets with SSRC %#x: %w", len(got), n, ssrc, err)
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(bytes.Clone(buf[:k])) != nil || pkt.Version != 2 {
			continue
		}
		if ssrc == 0 || pkt.SSRC == ssrc {
			got = append(got, pkt)
			if len(got) == n {
				return got, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), nil
			}
		}
	}
}

// flows checks that RTP sent by from to dst reaches to: it sends until
// to has received a few packets.
func flows(t testing.TB, from *phone, dst netip.AddrPort, to *phone) netip.AddrPort {
	t.Helper()
	ssrc := rand.Uint32() | 1
	s := from.sendRTP(dst, ssrc)
	defer s.Stop()
	src, err := to.rtpFrom(ssrc, 3)
	if err != nil {
		t.Fatalf("RTP from %s to %s: %v", from.user, to.user, err)
	}
	return src
}
