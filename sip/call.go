package sip

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/sip/media"
	"hotline/sip/sdp"
)

// supportedCodecs are the audio codecs Hotline relays, in our preference order.
var supportedCodecs = []string{"PCMU", "PCMA"}

// dtmfPT is the telephone-event payload type Hotline offers.
const dtmfPT = 101

// call is one hotline call's SIP side: its dialogs' I/O (the caller's
// leg and INVITE transaction, the responses to it) beside its
// call-control state (state, a callflow.Call: who the call is, its
// legs, bridges, routing, milestones, transfers, recording, ...). Its
// goroutine (run) owns the flow; SIP handlers only look it up and end
// it; closeWith tears it down.
type call struct {
	s *Server
	// setupDone tells overload control the call's setup is over
	// (endSetup); nil for calls Hotline places itself.
	setupDone func()
	log       *slog.Logger
	// transport is the caller's (a callback's: the line's) SIP
	// transport. Who the call is (id, direction, caller, arrival, the
	// hotline dialled) is state's (callflow.Identity).
	transport string

	// caller is the caller's leg; for a callback (callflow/dialer.go), the
	// customer's, nil until an agent took the callback.
	caller *Leg

	ctx    context.Context // ends when the call ends, with the cause
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	answered bool // 200 OK sent to the caller
	// began is when Hotline began handling the caller's INVITE and
	// answerAt when it sent the caller's 200 OK (monotonic clock: the
	// answer delay); began is zero for calls Hotline places.
	began, answerAt time.Time
	ringing         bool // 180 sent to the caller
	// respMu serialises responses to the caller's INVITE: an agent's
	// phone may ring late, on its WaitAnswer goroutine, while the call
	// answers or rejects the caller; finalSent stops 180s after that.
	respMu    sync.Mutex
	finalSent bool
	// state is the call's call-control side: its routing, legs (caller
	// first), bridges, holds, milestones, agents, transfers, monitoring
	// sessions, survey result, keypad answers, recording, agent-gone
	// signal and transfer orders (callflow.Call; own lock, never held
	// while calling out, so it may be used under mu).
	state callflow.Call[*Leg]
	// consult is set on the pseudo call of an agent's consultation
	// (attended_call.go), nil otherwise.
	consult *consultation
}

// onInvite handles INVITEs: new calls to a hotline number, and re-INVITEs
// within a call's dialogs.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction, setupDone func()) {
	began := time.Now()
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			s.onReInvite(req, tx)
			return
		}
	}
	if s.draining.Load() {
		s.respond(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	if s.callIDInUse(req) { // indialog.go
		s.respond(req, tx, 482, "Loop Detected", callIDInUseWarning())
		return
	}
	if code := req.Recipient.User; isFeatureCode(code) {
		setupDone() // an agent's feature code, not a new call: not bounded by max_setups
		s.onFeatureCode(req, tx, code)
		return
	}
	if agent, ok := ParseMonitorCode(req.Recipient.User); ok {
		setupDone()                     // a supervisor's monitoring call lasts as long as it listens
		s.onMonitorCode(req, tx, agent) // monitor_call.go
		return
	}
	if s.onInternalCall(req, tx) { // attended_call.go: an agent consults another agent or a queue
		return
	}
	if !s.fromTrunk(req) {
		if !s.cfg.AuthenticateCalls {
			s.floods.notTrunk.Log(context.Background(), slog.LevelWarn, "call refused: source is not a trunk", "source", req.Source(), "number", req.Recipient.User)
			s.respond(req, tx, 403, "Forbidden")
			return
		}
		if _, ok := s.reg.Authenticate(req, tx); !ok {
			return // answered 401/403
		}
	}
	number := req.Recipient.User
	hl, ok := s.deps.Routes.Hotline(number)
	if !ok {
		info(s.floods.unknownNumber, "call to unknown number", "number", number, "from", req.From().Address.User)
		s.respond(req, tx, 404, "Not Found")
		return
	}
	if ct := req.ContentType(); len(req.Body()) == 0 || (ct != nil && !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp")) {
		s.respond(req, tx, 488, "Not Acceptable Here", sip.NewHeader("Warning", `399 hotline "an SDP offer is required"`))
		return
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		s.log.Info("bad SDP offer", "call_id", req.CallID().Value(), "error", err)
		s.respond(req, tx, 400, "Bad Request", sip.NewHeader("Warning", `399 hotline "malformed SDP"`))
		return
	}
	if p := strings.ToUpper(offer.Audio.Proto); p != "" && p != "RTP/AVP" && p != "RTP/AVPF" {
		s.respond(req, tx, 488, "Not Acceptable Here", sip.NewHeader("Warning", `302 hotline "only RTP/AVP media is supported"`))
		return
	}
	codec, dtmf, err := sdp.Negotiate(&offer.Audio, supportedCodecs)
	if err != nil || offer.Audio.Addr.Port() == 0 {
		s.respond(req, tx, 488, "Not Acceptable Here", sip.NewHeader("Warning", `305 hotline "no common codec: PCMU or PCMA required"`))
		return
	}
	if n := s.active.Add(1); n > int64(s.cfg.MaxCalls) {
		s.active.Add(-1)
		s.respond(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	release := func() { s.active.Add(-1) }

	leg, status, err := s.acceptLeg(req, tx, offer, codec, dtmf)
	if err != nil {
		release()
		s.log.Warn("call not accepted", "call_id", req.CallID().Value(), "error", err)
		if status == 503 {
			s.respond(req, tx, status, "Service Unavailable", s.retryAfter())
		} else {
			s.respond(req, tx, status, "Bad Request")
		}
		return
	}
	callID := req.CallID().Value()
	// 100 Trying now, before the customer lookup (a CRM may take its
	// time) and before anything can ring: unless a response went out,
	// sipgo sends a 100 of its own 200 ms after the INVITE, from a timer
	// goroutine, which may reach the caller after our 180.
	if err := leg.srv.Respond(100, "Trying", nil); err != nil {
		s.log.Debug("100 Trying not sent", "call_id", callID, "error", err)
	}
	from := req.From()
	c := &call{
		s:         s,
		log:       s.log.With("call_id", callID),
		transport: strings.ToLower(req.Transport()),
		caller:    leg,
		setupDone: setupDone,
		began:     began,
	}
	id := callflow.Identity{ID: callID, Direction: callflow.DirectionInbound,
		Caller: from.Address.User, CallerName: from.DisplayName, Arrived: s.now()}
	c.state.Started(id)
	c.state.AddLeg(leg)
	c.state.AcceptTransfers() // by REFER (refer_server.go) or the API; the queue loop carries them out
	c.ctx, c.cancel = context.WithCancelCause(s.runCtx)
	c.state.RouteArrival(c.ctx, s.deps.Routes, hl, number)
	cust, d := c.state.Customer(), c.state.Decision()
	leg.media.OnDTMF(func(d rune) { c.log.Info("caller pressed a key", "digit", string(d)) })

	s.mu.Lock()
	if _, dup := s.table[callID]; dup { // the same Call-ID came in meanwhile (indialog.go)
		s.mu.Unlock()
		c.cancel(nil)
		release()
		_ = leg.media.Close()
		_ = leg.srv.Respond(482, "Loop Detected", nil, callIDInUseWarning())
		_ = leg.srv.Close()
		return
	}
	s.table[callID] = &dialogRef{call: c, leg: leg}
	s.byID[callID] = c
	s.mu.Unlock()
	s.calls.Add(1)

	c.log.Info("incoming call", "hotline", hl.Number, "from", id.Caller, "customer", cust.ID,
		"segment", cust.Segment, "rule", d.Rule, "action", d.Action, "queue", d.Queue,
		"transport", c.transport, "codec", codec.Name)
	// The handler must not return before the final response: sipgo ends
	// the INVITE transaction when it does. The call runs on this goroutine.
	c.run()
}

// onReInvite answers an INVITE inside an existing dialog (hold, unhold,
// session refresh, new media address) with the current session.
func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	ref := s.lookup(req)
	if ref == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c, leg := ref.call, ref.leg
	if !confirmed(leg.srv) { // indialog.go: the caller's ACK is still to come
		s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	if err := leg.readRequest(req, tx); err != nil {
		s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	body, offer, status, err := leg.reInvite(req.Body())
	switch {
	case status == 400:
		s.respond(req, tx, 400, "Bad Request", sip.NewHeader("Warning", `399 hotline "malformed SDP"`))
		return
	case err != nil:
		s.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	if offer != nil {
		c.log.Info("re-INVITE", "leg", leg.role.String(), "direction", offer.Audio.Direction, "remote", offer.Audio.Addr.String())
		c.noteHold(leg, offer.Audio.OnHold(), s.now())
		c.holdChanged(leg, offer.Audio.OnHold()) // hold.go: hold music for the caller
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ua, _ := s.uaFor(req.Transport())
	res.AppendHeader(sip.HeaderClone(&ua.ContactHDR))
	if err := tx.Respond(res); err != nil {
		c.log.Warn("re-INVITE response not sent", "error", err)
	}
}

// noteHold notes that leg is (or is no more) on hold at now, for the
// call's record.
func (c *call) noteHold(leg *Leg, held bool, now time.Time) { c.state.Holds.Note(leg, held, now) }

// end ends the call with a cause; the first cause wins.
func (c *call) end(cause error) {
	c.cancel(cause)
}

// run runs the call through its script (callflow.Run: the keypad
// questions, then an after-hours action or the queue) on the INVITE's
// goroutine, ending it when the caller hangs up, and tears it down
// (closeWith).
func (c *call) run() {
	defer c.s.calls.Done()
	defer c.closeWith(callflow.ErrCallerHangup)
	defer c.endSetup()
	callflow.WatchLeg(c.script(), c.caller, callflow.ErrCallerHangup, nil)
	callflow.Run(c.script()) // keypad questions, then after-hours or the queue
}

func (c *call) holdSource() media.Source {
	if c.s.hold != nil {
		return c.s.hold.Loop()
	}
	return callflow.HoldTone()
}

// ringbackSource is what a caller who is already answered hears while an
// agent's phone rings (callflow.RingbackTone).
func ringbackSource() media.Source { return callflow.RingbackTone() }

// endSetup tells overload control (sip.overload.max_setups) that the
// call's setup is over: an agent is rung, the caller answered, or the call
// ended.
func (c *call) endSetup() {
	if c.setupDone != nil {
		c.setupDone()
	}
}

// answer sends 200 OK to the caller (once). It returns as the 200 goes
// out, not once the caller's ACK came: the caller is answered from then
// on, as in Asterisk and FreeSWITCH, and an agent who answered is bridged
// at once rather than after a round trip (or, with the ACK lost, after
// 32 s of silence). sipgo's RespondSDP, which retransmits the 200 until
// the ACK comes, runs on a goroutine of its own (awaitAck).
func (c *call) answer() error {
	c.mu.Lock()
	if c.answered {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.endSetup() // the caller is answered: queued, or an agent took the call
	body := c.caller.localSDP()
	c.endProvisionals()
	at := time.Now()
	if err := c.awaitAck(body); err != nil {
		return err
	}
	c.state.NoteAnswered(c.s.now())
	c.mu.Lock()
	c.answered, c.answerAt = true, at
	c.mu.Unlock()
	c.caller.media.Start()
	c.tapRecording(c.state.RecordAtAnswer(c.s.deps.Recordings, c.state.RecordingInfo(""), c.log))
	callflow.WatchLeg(c.script(), c.caller, nil, callflow.ErrCallerTimeout)
	c.log.Info("caller answered")
	return nil
}

// awaitAck sends the caller's 200 OK with body and returns once sipgo
// has established the dialog for it, or with the error that kept the 200
// from going out (the caller cancelled meanwhile: ErrCallerHangup). What
// sipgo's RespondSDP returns later, once it stops retransmitting, ends
// the call if the caller never acknowledged the 200 within
// sip.transaction_linger (5 s; RFC 3261 says 64×T1; linger.go): ErrNoAck
// (RFC 3261 §13.3.1.4; the teardown sends the caller a BYE).
func (c *call) awaitAck(body []byte) error {
	srv := c.caller.srv
	established := make(chan struct{})
	var once sync.Once
	srv.OnState(func(st sip.DialogState) {
		if st == sip.DialogStateEstablished || st == sip.DialogStateConfirmed {
			once.Do(func() { close(established) })
		}
	})
	failed := make(chan error, 1)
	s := c.s
	s.bg.Add(1) // Shutdown waits for it
	go func() {
		defer s.bg.Done()
		// Shutdown ends sipgo's wait for the ACK at once. Otherwise it
		// would go on until its next retransmission (up to T2, 4 s)
		// found the transaction ended.
		stop := context.AfterFunc(s.runCtx, func() { stopAwaitingAck(srv) })
		defer stop()
		err := srv.RespondSDP(body) // returns once the ACK came, or the linger without it
		switch {
		case err == nil:
			return
		case srv.Context().Err() != nil: // CANCEL, or a BYE before the ACK
			err = callflow.ErrCallerHangup
		case srv.LoadState() == sip.DialogStateEstablished:
			c.log.Warn("no ACK from the caller for the 200 OK: hanging up", "error", err)
			err = callflow.ErrNoAck
		default:
			err = fmt.Errorf("answering caller: %w", err)
		}
		failed <- err
		c.end(err)
	}()
	select {
	case <-established: // sipgo sends the 200 right after
		return nil
	case err := <-failed:
		return err
	}
}

// stopAwaitingAck ends sipgo's wait for the caller's ACK to a 200 OK
// (in DialogServerSession.WriteResponse) as if the ACK had come: sipgo
// has no other way to end that wait from outside. Nothing is sent.
func stopAwaitingAck(srv *sipgo.DialogServerSession) {
	if srv.LoadState() == sip.DialogStateEstablished {
		_ = srv.ReadAck(srv.InviteRequest, nil) // it reads only the CSeq
	}
}

// ID is the call's id (callflow.Identity).
func (c *call) ID() string { return c.state.ID() }

// agentRinging tells the caller an agent's phone rings
// (callflow.TellRinging): 180 before the caller is answered, a ringback
// tone after.
func (c *call) agentRinging() {
	c.mu.Lock()
	caller := c.caller
	if caller == nil || caller.srv == nil {
		c.mu.Unlock()
		return // a callback (callflow/dialer.go): nobody is on the line yet
	}
	answered, first := c.answered, !c.ringing
	c.ringing = true
	c.mu.Unlock()
	switch callflow.TellRinging(answered, first) {
	case callflow.RingTone:
		caller.media.Play(ringbackSource())
	case callflow.Ring180:
		c.respMu.Lock()
		defer c.respMu.Unlock()
		if c.finalSent {
			return
		}
		if err := caller.srv.Respond(180, "Ringing", nil); err != nil {
			c.log.Debug("180 not sent", "error", err)
		}
	}
}

// endProvisionals is called before the final response to the caller's
// INVITE: a 180 being sent finishes first, and none is sent after.
func (c *call) endProvisionals() {
	c.respMu.Lock()
	c.finalSent = true
	c.respMu.Unlock()
}

// startRecording starts recording the call if the policy says so (or,
// for a recording begun at answer, adds the agent's side to it): the
// policy, and what happens when a recording cannot start, are
// callflow's (callflow.Call.Record); here the legs' media are tapped
// into the recording, the caller's on the caller channel, a's (the
// agent's, or the outside party's) on the agent channel.
func (c *call) startRecording(agent string, a *Leg) {
	c.tapRecording(c.state.Record(c.s.deps.Recordings, c.state.RecordingInfo(agent), c.log))
	if rec := c.state.Recording(); rec != nil && a != nil {
		a.media.SetPacketTap(rec.Tap(callflow.AgentChannel, a.Format().Codec()))
	}
}

// tapRecording taps the caller's media into a recording that begun.
func (c *call) tapRecording(rec callflow.Recording, begun bool) {
	if begun {
		c.caller.media.SetPacketTap(rec.Tap(callflow.CallerChannel, c.caller.Format().Codec()))
	}
}

// refusedError is an agent's phone refusing an offered call; call
// control sees it as a *callflow.Refused (callflow.NoAnswerReason).
type refusedError struct {
	code   int
	reason string
}

func (e *refusedError) Error() string { return fmt.Sprintf("agent answered %d %s", e.code, e.reason) }
func (e *refusedError) Unwrap() error { return &callflow.Refused{Code: e.code, Reason: e.reason} }

// queueName is the routing queue the call belongs to (the hotline number
// when the router named none).
func (c *call) queueName() string { return c.state.QueueName() }

// agentLeft is called when the bridged agent hangs up: the survey, or
// the call's end (callflow.AgentLeft).
func (c *call) agentLeft() { callflow.AgentLeft(c.script()) }

var _ callflow.AgentCall = scriptCall{}

// Has says whether a is still one of the call's legs.
func (sc scriptCall) Has(a callflow.Leg) bool {
	l, ok := a.(*Leg)
	return ok && sc.c.hasLeg(l)
}

// NoteAgentLeft notes when the agent left (the first time counts).
func (sc scriptCall) NoteAgentLeft() { sc.c.state.NoteAgentLeft(sc.c.s.now()) }

// SurveyOn says whether the survey is on and its prompts usable.
func (sc scriptCall) SurveyOn() bool {
	return sc.c.s.deps.Survey.On() && sc.c.s.surveyOK.Load()
}

// ToSurvey closes AgentGone.
func (sc scriptCall) ToSurvey() { sc.c.state.ToSurvey() }

// detachAgent separates the caller from an agent who has hung up: the
// media bridge is undone, the agent's leg closed and the agent freed.
func (c *call) detachAgent() {
	a := c.legOf(RoleAgent)
	if a == nil || !c.removeLeg(a) {
		return
	}
	c.noteHold(a, false, c.s.now()) // a hold of the agent's ends with its leg
	c.s.unregister(a.callID)
	_ = a.media.Close() // its last audio to the recording first (media.Leg.Close)
	c.s.legEnded(a.media)
}

// closeWith is the one teardown of every call, inbound or callback
// (callflow.Close): the legs hung up, released, the recording finished,
// the call unlisted and its record handed on; teardown.go is its SIP
// side. A call that was never listed (a callback no agent took) leaves no
// record.
func (c *call) closeWith(cause error) { callflow.Close(teardown{c}, cause) }

// CallInfo is a snapshot of one call in progress.
type CallInfo struct {
	CallID   string    `json:"call_id"`
	Hotline  string    `json:"hotline"`
	Queue    string    `json:"queue,omitempty"`
	From     string    `json:"from"`
	Agent    string    `json:"agent,omitempty"`
	Answered bool      `json:"answered"`
	Started  time.Time `json:"started"`
	Outside  string    `json:"outside,omitempty"` // the outside number a transfer connected the caller with
}

// Calls returns the calls in progress.
func (s *Server) Calls() []CallInfo {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.byID))
	for _, c := range s.byID {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		a := c.legOf(RoleAgent)
		id := c.state.Identity()
		ci := CallInfo{CallID: id.ID, Hotline: c.state.Hotline().Number, From: id.Caller, Started: id.Arrived}
		c.mu.Lock()
		ci.Answered = c.answered
		c.mu.Unlock()
		ci.Queue = c.state.Decision().Queue
		ci.Outside = c.state.Outside()
		if a != nil {
			ci.Agent = a.peer
		}
		out = append(out, ci)
	}
	return out
}

// ErrNoSuchCall: no call in progress has the id a live-call operation
// names (callflow's, which the recording controls answer too).
var ErrNoSuchCall = callflow.ErrNoSuchCall

// CallRecording is the recording of call callID in progress (nil when it
// is not recorded) and the call's log; ok false when there is no such
// call. Pausing and resuming it is callflow's (callflow.RecordingControl).
func (s *Server) CallRecording(callID string) (rec callflow.Recording, log *slog.Logger, ok bool) {
	s.mu.Lock()
	c := s.byID[callID]
	s.mu.Unlock()
	if c == nil {
		return nil, nil, false
	}
	return c.state.Recording(), c.log, true
}
