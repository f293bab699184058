package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ErrNoMedia is returned by parseSDPAudio when a body has no usable
// IPv4 audio address.
var ErrNoMedia = errors.New("sdp: no audio address")

// parseSDPAudio returns the audio RTP address of an SDP body (media-level
// c= over session-level c=).
func parseSDPAudio(body []byte) (netip.AddrPort, error) {
	var sessIP, mediaIP netip.Addr
	port := -1
	inAudio := false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			inAudio = false
			f := strings.Fields(line[2:])
			if len(f) >= 2 && f[0] == "audio" && port < 0 {
				p, err := strconv.Atoi(f[1])
				if err == nil {
					port, inAudio = p, true
				}
			}
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) < 3 || f[1] != "IP4" {
				continue
			}
			ip, err := netip.ParseAddr(f[2])
			if err != nil {
				continue
			}
			if inAudio {
				mediaIP = ip
			} else if port < 0 {
				sessIP = ip
			}
		}
	}
	ip := mediaIP
	if !ip.IsValid() {
		ip = sessIP
	}
	if port <= 0 || port > 65535 || !ip.IsValid() || ip.IsUnspecified() {
		return netip.AddrPort{}, ErrNoMedia
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// sdpOffer is a PCMU-only audio offer or answer on 127.0.0.1:port.
func sdpOffer(sessID uint64, port int) []byte {
	return fmt.Appendf(nil, "v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=hotline-load\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n", sessID, port)
}

// sipSide is one SIP user agent of the load generator (the callers, or
// the agents) listening on its own UDP socket.
type sipSide struct {
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	conn   net.PacketConn
	addr   netip.AddrPort
	dua    *sipgo.DialogUA
	done   chan struct{}
}

func newSIPSide(name string, log *slog.Logger) (*sipSide, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(8 << 20)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name))
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		conn.Close()
		ua.Close()
		return nil, err
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"),
		sipgo.WithClientConnectionAddr(addr.String()), sipgo.WithClientLogger(log))
	if err != nil {
		conn.Close()
		ua.Close()
		return nil, err
	}
	s := &sipSide{ua: ua, srv: srv, client: client, conn: conn, addr: addr, done: make(chan struct{}),
		dua: &sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{
			Address: sip.Uri{Scheme: "sip", User: name, Host: "127.0.0.1", Port: int(addr.Port())}}}}
	return s, nil
}

func (s *sipSide) serve() {
	go func() {
		defer close(s.done)
		_ = s.srv.ServeUDP(s.conn)
	}()
}

func (s *sipSide) close() {
	_ = s.ua.Close()
	_ = s.conn.Close()
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
}

// callResult is what one caller saw.
type callResult struct {
	OK      bool
	Err     string
	Bridged bool          // the caller got 200 OK
	To180   time.Duration // INVITE sent to 180 received (0: none)
	ToAgent time.Duration // INVITE sent to the agent's INVITE arriving (0: none)
	To200   time.Duration // INVITE sent to its 200 OK (0: none)
	// Refused: Hotline answered the INVITE 503 (overload control,
	// sip.max_calls): refused at once, not admitted; ToRefuse is
	// INVITE sent to the 503.
	Refused  bool
	ToRefuse time.Duration
	// agentUp is closed once an agent's 200 OK for the call was ACKed:
	// the caller reached an agent, not only an offer (nil: not placed).
	agentUp <-chan struct{}
	// CallID is the caller's Call-ID (Hotline's call record's call_id).
	CallID string
	// expected: the call was judged connected to an agent, a recording to
	// wait for; missed: answered in the queue and offered to an agent,
	// but judged hung up before the agent's answer was bridged (failed).
	expected, missed bool
}

// reachedAgent reports whether an agent's answer to the call was
// acknowledged (Hotline bridged it) by now (a nil agentUp never is).
func (r *callResult) reachedAgent() bool {
	select {
	case <-r.agentUp:
		return true
	default:
		return false
	}
}

// pendingCall links a caller's INVITE to the agent's INVITE it causes
// (Hotline copies the caller's From user into the agent's INVITE).
type pendingCall struct {
	agentAt atomic.Int64 // wall ns

	// plan, when set (soak), says how the agents treat the call's offers;
	// nil: every offer is answered at once (bench).
	plan   *callPlan
	offers atomic.Int32 // agent INVITEs received for the call

	agent200 atomic.Bool // an agent is sending its 200 OK

	mu          sync.Mutex
	answered    chan struct{} // closed once an agent's 200 OK was ACKed
	agentCallID string
	agentDlg    *sipgo.DialogServerSession
	agentCSeq   uint32 // CSeq of the agent's last own request in the dialog
}

func newPendingCall(plan *callPlan) *pendingCall {
	return &pendingCall{plan: plan, answered: make(chan struct{})}
}

// agentAnswered records the agent's dialog of the call (first one wins).
func (pc *pendingCall) agentAnswered(callID string, dlg *sipgo.DialogServerSession) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.agentDlg != nil {
		return
	}
	pc.agentCallID, pc.agentDlg = callID, dlg
	close(pc.answered)
}

// agent returns the agent's dialog, once answered.
func (pc *pendingCall) agent() (string, *sipgo.DialogServerSession) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.agentCallID, pc.agentDlg
}

// nextAgentCSeq returns the CSeq of the agent's next request in the
// dialog (sipgo does not count the UAS side's own requests).
func (pc *pendingCall) nextAgentCSeq() uint32 {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.agentCSeq == 0 {
		pc.agentCSeq = 100
	}
	pc.agentCSeq++
	return pc.agentCSeq
}

// agentRing is how long agents ring before answering.
const agentRing = 10 * time.Millisecond

// loadGen is the callers and the agents, on loopback.
type loadGen struct {
	log    *slog.Logger
	media  *mediaEngine
	target netip.AddrPort // Hotline's SIP UDP address
	number string
	caller *sipSide
	agent  *sipSide

	seq          atomic.Uint64
	pending      sync.Map // From user -> *pendingCall
	callerDlgs   sync.Map // Call-ID -> *sipgo.DialogClientSession
	agentDlgs    *sipgo.DialogServerCache
	agentStreams sync.Map // Call-ID -> agentStream
	agentCalls   atomic.Int64
	agentUp      atomic.Int64 // agent calls answered and ACKed
	agentErrors  atomic.Int64
	// agentRingOuts counts offers the agents let ring (soak plans);
	// agentNotCancelled those Hotline never cancelled.
	agentRingOuts     atomic.Int64
	agentNotCancelled atomic.Int64
	agentNoAck        atomic.Int64 // agents' 200 OKs never acknowledged

	ringing     sync.Map // Call-ID -> ringingOffer, offers rung out now
	lmu         sync.Mutex
	strays      []agentLegRef // agent calls Hotline never hung up
	uncancelled []agentLegRef // offers rung out that Hotline never cancelled
	noAck       []agentLegRef // answers Hotline never acknowledged
}

// ringingOffer is an offer an agent lets ring.
type ringingOffer struct {
	tok   string
	since time.Time
}

// stuckRingOuts records, as never cancelled, the offers ringing for
// longer than age (Hotline cancels at its ring timeout), and returns how
// many there are.
func (g *loadGen) stuckRingOuts(age time.Duration) int {
	n := 0
	g.ringing.Range(func(k, v any) bool {
		o := v.(ringingOffer)
		if time.Since(o.since) > age {
			if _, ok := g.ringing.LoadAndDelete(k); ok {
				g.agentNotCancelled.Add(1)
				g.noteLeg(&g.uncancelled, agentLegRef{CallID: k.(string), Token: o.tok})
				n++
			}
		}
		return true
	})
	return n
}

// agentStream is the audio of an agent's call.
type agentStream struct {
	id  uint32
	tok string // the caller's From user (links to the caller's call)
}

// agentLegRef names an agent's call: its Call-ID and the caller's From user.
type agentLegRef struct{ CallID, Token string }

// maxLegRefs bounds the lists of agent calls kept for the report.
const maxLegRefs = 1000

func (g *loadGen) noteLeg(list *[]agentLegRef, ref agentLegRef) {
	g.lmu.Lock()
	defer g.lmu.Unlock()
	if len(*list) < maxLegRefs {
		*list = append(*list, ref)
	}
}

// legRefs returns the agent calls Hotline never hung up, the offers it
// never cancelled and the answers it never acknowledged, so far.
func (g *loadGen) legRefs() (strays, uncancelled, noAck []agentLegRef) {
	g.lmu.Lock()
	defer g.lmu.Unlock()
	return append([]agentLegRef(nil), g.strays...), append([]agentLegRef(nil), g.uncancelled...),
		append([]agentLegRef(nil), g.noAck...)
}

func newLoadGen(media *mediaEngine, target netip.AddrPort, number string, log *slog.Logger) (*loadGen, error) {
	c, err := newSIPSide("caller", log)
	if err != nil {
		return nil, err
	}
	a, err := newSIPSide("agent", log)
	if err != nil {
		c.close()
		return nil, err
	}
	g := &loadGen{log: log, media: media, target: target, number: number, caller: c, agent: a}
	g.agentDlgs = sipgo.NewDialogServerCache(a.client, a.dua.ContactHDR)
	c.srv.OnBye(g.onCallerBye)
	a.srv.OnInvite(g.onAgentInvite)
	a.srv.OnAck(g.onAgentAck)
	a.srv.OnBye(g.onAgentBye)
	c.serve()
	a.serve()
	time.Sleep(100 * time.Millisecond) // let the servers put their sockets in sipgo's pool
	return g, nil
}

func (g *loadGen) close() {
	g.caller.close()
	g.agent.close()
}

// registerAgents registers users (digest auth, password from pass) with
// Hotline, workers at a time. It returns how many failed.
func (g *loadGen) registerAgents(ctx context.Context, users []string, pass func(string) string, workers int) (failed int, err error) {
	var nfail atomic.Int64
	var firstErr atomic.Pointer[error]
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range jobs {
				err := g.register(ctx, u, pass(u))
				for try := 0; err != nil && try < 3 && ctx.Err() == nil; try++ {
					// sipgo may not have the listener in its pool yet.
					time.Sleep(200 * time.Millisecond)
					err = g.register(ctx, u, pass(u))
				}
				if err != nil {
					nfail.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	for _, u := range users {
		select {
		case jobs <- u:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		err = *p
	}
	return int(nfail.Load()), err
}

func (g *loadGen) register(ctx context.Context, user, pass string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	host := g.target.Addr().String()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: int(g.target.Port())})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: int(g.agent.addr.Port())}})
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	res, err := g.agent.client.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("REGISTER %s: %w", user, err)
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		res, err = g.agent.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: pass})
		if err != nil {
			return fmt.Errorf("REGISTER %s with digest: %w", user, err)
		}
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("REGISTER %s: %d %s", user, res.StatusCode, res.Reason)
	}
	return nil
}

// onAgentInvite answers an offered call at once: 180, then 200 with SDP,
// then (after the ACK) audio to Hotline's agent leg.
func (g *loadGen) onAgentInvite(req *sip.Request, tx sip.ServerTransaction) {
	now := time.Now().UnixNano()
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" { // re-INVITE: not expected
			_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
	}
	var pc *pendingCall
	tok := ""
	if f := req.From(); f != nil {
		tok = f.Address.User
		if v, ok := g.pending.Load(tok); ok {
			pc = v.(*pendingCall)
			pc.agentAt.CompareAndSwap(0, now)
		}
	}
	ring := agentRing
	if pc != nil && pc.plan != nil {
		k := int(pc.offers.Add(1))
		if p := pc.plan; p.NoAnswers < 0 || k <= p.NoAnswers {
			g.ringOut(req, tx, tok, pc.plan.RingDelay)
			return
		}
		ring = max(pc.plan.AnswerDelay, agentRing)
	}
	dst, err := parseSDPAudio(req.Body())
	if err != nil {
		g.agentErrors.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := g.agentDlgs.ReadInvite(req, tx)
	if err != nil {
		g.agentErrors.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	n := int(g.agentCalls.Add(1))
	if err := dlg.Respond(180, "Ringing", nil); err != nil {
		g.agentErrors.Add(1)
		_ = dlg.Close()
		return
	}
	// A short ring: answering at once lets Hotline's SIP stack handle the
	// 200 before the 180 (it dispatches messages concurrently), and the
	// caller would get no 180 to time.
	time.Sleep(ring)
	if pc != nil {
		pc.agent200.Store(true) // before Hotline can know of it
	}
	if err := dlg.RespondSDP(sdpOffer(uint64(n), g.media.port(sideAgent, n))); err != nil { // waits for the ACK
		g.agentErrors.Add(1)
		if strings.Contains(err.Error(), "No ACK") { // sipgo gave up after 64*T1
			g.agentNoAck.Add(1)
			g.noteLeg(&g.noAck, agentLegRef{CallID: req.CallID().Value(), Token: tok})
		}
		_ = dlg.Close()
		return
	}
	g.agentUp.Add(1)
	id, err := g.media.start(sideAgent, n, dst)
	if err != nil {
		g.agentErrors.Add(1)
		return
	}
	callID := req.CallID().Value()
	g.agentStreams.Store(callID, agentStream{id: id, tok: tok})
	if dlg.Context().Err() != nil {
		// Hotline hung up before the audio was registered: onAgentBye
		// found nothing to stop.
		if v, ok := g.agentStreams.LoadAndDelete(callID); ok {
			g.media.stop(v.(agentStream).id)
		}
	}
	if pc != nil {
		pc.agentAnswered(req.CallID().Value(), dlg)
	}
}

// ringOutBound bounds how long an agent lets an offer ring without
// answering: Hotline cancels it at its ring timeout long before.
const ringOutBound = 2 * time.Minute

// ringOut rings without ever answering: 180 (after delay; sipgo sends
// 100 Trying after 200 ms meanwhile), then nothing until Hotline CANCELs
// the INVITE (sipgo answers the CANCEL and the INVITE with 487).
func (g *loadGen) ringOut(req *sip.Request, tx sip.ServerTransaction, tok string, delay time.Duration) {
	g.agentRingOuts.Add(1)
	callID := req.CallID().Value()
	g.ringing.Store(callID, ringingOffer{tok: tok, since: time.Now()})
	defer g.ringing.Delete(callID)
	if delay > 0 {
		select {
		case <-tx.Done():
			return
		case <-time.After(delay):
		}
	}
	res := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
	if to := res.To(); to != nil {
		to.Params.Add("tag", sip.GenerateTagN(10))
	}
	if err := tx.Respond(res); err != nil {
		return // a slow phone's 180 after the CANCEL
	}
	select {
	case <-tx.Done():
	case <-time.After(ringOutBound):
		// Never cancelled: give up with a final answer.
		if _, ok := g.ringing.LoadAndDelete(callID); ok { // else counted by stuckRingOuts
			g.agentNotCancelled.Add(1)
			g.noteLeg(&g.uncancelled, agentLegRef{CallID: callID, Token: tok})
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	}
}

// stopStrayStreams stops agent audio of calls Hotline never hung up (it
// lost track of them under overload); call it when Hotline is idle.
func (g *loadGen) stopStrayStreams() int {
	n := 0
	g.agentStreams.Range(func(k, v any) bool {
		if _, ok := g.agentStreams.LoadAndDelete(k); ok {
			st := v.(agentStream)
			g.media.stop(st.id)
			g.noteLeg(&g.strays, agentLegRef{CallID: k.(string), Token: st.tok})
			n++
		}
		return true
	})
	return n
}

func (g *loadGen) onAgentAck(req *sip.Request, tx sip.ServerTransaction) {
	_ = g.agentDlgs.ReadAck(req, tx)
}

func (g *loadGen) onAgentBye(req *sip.Request, tx sip.ServerTransaction) {
	// The dialog ends first: onAgentInvite, registering the audio of a
	// call hung up at once, sees it ended and stops the audio itself.
	err := g.agentDlgs.ReadBye(req, tx)
	if v, ok := g.agentStreams.LoadAndDelete(req.CallID().Value()); ok {
		g.media.stop(v.(agentStream).id)
	}
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}

func (g *loadGen) onCallerBye(req *sip.Request, tx sip.ServerTransaction) {
	v, ok := g.callerDlgs.Load(req.CallID().Value())
	if !ok {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	_ = v.(*sipgo.DialogClientSession).ReadBye(req, tx)
}

// holdSpec says how long a caller stays on the line.
type holdSpec struct {
	For      time.Duration   // hang up after this long...
	Until    <-chan struct{} // ...or when this closes (nil: never)
	OnAnswer func()          // called once the call is up, with audio
}

// newCall numbers a new call and registers what links the agent's INVITE
// to it; the caller's From user is the returned token. Call the returned
// function when the call is over.
func (g *loadGen) newCall(plan *callPlan) (n uint64, tok string, pc *pendingCall, done func()) {
	n = g.seq.Add(1)
	tok = "b" + strconv.FormatUint(n, 10)
	pc = newPendingCall(plan)
	g.pending.Store(tok, pc)
	return n, tok, pc, func() { g.pending.Delete(tok) }
}

// inviteRequest is call n's INVITE to the hotline number, from tok, with
// an offer for the caller's RTP socket of the call.
func (g *loadGen) inviteRequest(n uint64, tok string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: g.number, Host: g.target.Addr().String(), Port: int(g.target.Port())})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: tok, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdpOffer(n, g.media.port(sideCaller, int(n))))
	return req
}

// call places one call and hangs it up as hold says.
func (g *loadGen) call(ctx context.Context, hold holdSpec) (r callResult) {
	n, tok, pc, done := g.newCall(nil)
	defer done()
	req := g.inviteRequest(n, tok)

	t0 := time.Now()
	defer func() {
		if at := pc.agentAt.Load(); at != 0 {
			r.ToAgent = time.Duration(at - t0.UnixNano())
		}
		r.agentUp = pc.answered
	}()
	dlg, err := g.caller.dua.WriteInvite(ctx, req)
	if err != nil {
		r.Err = "INVITE not sent: " + err.Error()
		return r
	}
	defer dlg.Close()
	callID := req.CallID().Value() // set by WriteInvite
	r.CallID = callID
	g.callerDlgs.Store(callID, dlg)
	defer g.callerDlgs.Delete(callID)

	actx, cancel := context.WithTimeout(ctx, 8*time.Second)
	var got180 time.Duration
	err = dlg.WaitAnswer(actx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode == 180 && got180 == 0 {
			got180 = time.Since(t0)
		}
		return nil
	}})
	cancel()
	r.To180 = got180
	if err != nil {
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) {
			r.Err = fmt.Sprintf("INVITE answered %d", dr.Res.StatusCode)
			if dr.Res.StatusCode == 503 {
				r.Refused, r.ToRefuse = true, time.Since(t0)
			}
		} else {
			r.Err = "INVITE: " + shortErr(err)
		}
		return r
	}
	r.Bridged = true
	r.To200 = time.Since(t0)
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := dlg.Ack(bctx); err != nil {
		r.Err = "ACK: " + shortErr(err)
		return r
	}
	dst, err := parseSDPAudio(dlg.InviteResponse.Body())
	if err != nil {
		r.Err = "answer SDP: " + err.Error()
		_ = dlg.Bye(bctx)
		return r
	}
	id, err := g.media.start(sideCaller, int(n), dst)
	if err != nil {
		r.Err = err.Error()
		_ = dlg.Bye(bctx)
		return r
	}
	if hold.OnAnswer != nil {
		hold.OnAnswer()
	}
	timer := time.NewTimer(hold.For)
	defer timer.Stop()
	hungUp := false
	select {
	case <-timer.C:
	case <-hold.Until:
	case <-ctx.Done():
	case <-dlg.Context().Done():
		hungUp = true
	}
	g.media.stop(id)
	if hungUp {
		r.Err = "hung up by Hotline"
		return r
	}
	if err := dlg.Bye(bctx); err != nil {
		r.Err = "BYE: " + shortErr(err)
		return r
	}
	r.OK = true
	return r
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// sdpBody is a PCMU-only audio offer on 127.0.0.1:port with a direction
// attribute (sendrecv, sendonly for hold) and an origin version.
func sdpBody(sessID uint64, version, port int, dir string) []byte {
	return fmt.Appendf(nil, "v=0\r\no=- %d %d IN IP4 127.0.0.1\r\ns=hotline-load\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=%s\r\n", sessID, version, port, dir)
}

// ErrReinvite is returned when a re-INVITE is not answered 200.
var ErrReinvite = errors.New("re-INVITE refused")

// callerReinvite sends a re-INVITE with body in the caller's dialog and
// acknowledges the 200.
func callerReinvite(ctx context.Context, dlg *sipgo.DialogClientSession, body []byte) error {
	contact := dlg.InviteResponse.Contact()
	if contact == nil {
		return fmt.Errorf("%w: no Contact in the 200 OK", ErrReinvite)
	}
	req := sip.NewRequest(sip.INVITE, contact.Address)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res, err := dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("re-INVITE: %w", err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("%w: %d %s", ErrReinvite, res.StatusCode, res.Reason)
	}
	return dlg.WriteRequest(sip.NewRequest(sip.ACK, contact.Address)) // CSeq of the re-INVITE
}

// agentReinvite sends a re-INVITE with body in the agent's dialog of pc
// and acknowledges the 200.
func (g *loadGen) agentReinvite(ctx context.Context, pc *pendingCall, body []byte) error {
	_, dlg := pc.agent()
	if dlg == nil {
		return fmt.Errorf("%w: the agent has not answered", ErrReinvite)
	}
	contact := dlg.InviteRequest.Contact()
	if contact == nil {
		return fmt.Errorf("%w: no Contact in Hotline's INVITE", ErrReinvite)
	}
	seq := pc.nextAgentCSeq()
	req := sip.NewRequest(sip.INVITE, contact.Address)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.INVITE})
	req.AppendHeader(sip.HeaderClone(&g.agent.dua.ContactHDR))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res, err := dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("re-INVITE: %w", err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("%w: %d %s", ErrReinvite, res.StatusCode, res.Reason)
	}
	ack := sip.NewRequest(sip.ACK, contact.Address)
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.ACK})
	return dlg.WriteRequest(ack)
}

// agentHangup hangs up the agent's side of pc's call (BYE) and stops its
// audio.
func (g *loadGen) agentHangup(ctx context.Context, pc *pendingCall) error {
	callID, dlg := pc.agent()
	if dlg == nil {
		return errors.New("agent BYE: the agent has not answered")
	}
	if v, ok := g.agentStreams.LoadAndDelete(callID); ok {
		g.media.stop(v.(agentStream).id)
	}
	contact := dlg.InviteRequest.Contact()
	if contact == nil {
		return errors.New("agent BYE: no Contact in Hotline's INVITE")
	}
	bye := sip.NewRequest(sip.BYE, contact.Address)
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: pc.nextAgentCSeq(), MethodName: sip.BYE})
	defer dlg.Close()
	if err := dlg.WriteBye(ctx, bye); err != nil {
		return fmt.Errorf("agent BYE: %w", err)
	}
	return nil
}
