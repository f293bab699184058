package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/audio"
	"hotline/callflow"
	"hotline/metrics"
	"hotline/sip/media"
	"hotline/sip/overload"
	"hotline/sip/registrar"
)

// Deps are what the SIP server needs from the rest of Hotline.
type Deps struct {
	// Log is the logger; every call logs with a call_id attribute.
	Log *slog.Logger
	// Routes are the routing configuration (hotline numbers, agents,
	// queue settings) and services calls use: the rules that decide
	// where each call goes, the customer directory (who calls, the
	// service style they chose), the callback store, and the ACD, which
	// queues calls and picks agents (the server keeps it told of
	// registrations and runs its clock while started); Config, Router
	// and ACD are required.
	Routes *callflow.Routes
	// Disposition gives an agent's last call the wrap-up code whose key
	// they dialled after *25 (ErrUnknownDispositionKey for none); nil:
	// *25 is refused.
	Disposition func(agent, key string) error
	// Prompts are every prompt played: survey questions, after-hours
	// messages, keypad menus, announcements (<lang>/<name>.wav, e.g.
	// en/closed.wav); nil or a missing message: a short tone is played;
	// without the survey's prompts there is no survey.
	Prompts *audio.Prompts
	// VoicemailMax bounds a voicemail recording; default 2 minutes.
	VoicemailMax time.Duration
	// Media configures RTP.
	Media *media.Config
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Recordings records calls (recording.Manager.Calls); nil records
	// none.
	Recordings callflow.Recordings
	// Survey is the post-call survey (callflow.NewPostCallSurvey); nil
	// or disabled: none.
	Survey *callflow.PostCallSurvey
	// OnCallEnd receives the record of every finished call.
	OnCallEnd func(callflow.Record)
	// Metrics receives the SIP and RTP figures (requests, responses,
	// refused calls, RTP streams); nil records nothing.
	Metrics *metrics.Metrics
	// CallMetrics count calls (callmetrics.New): offered, turned away,
	// agents not answering, transfers, and each finished call's wait,
	// handle time and survey; nil counts none.
	CallMetrics callflow.Metrics
	// RemoteBindings, with several nodes (cluster), returns the live
	// registrations of an agent's phone that other nodes hold: the phone
	// is reached through them (their Path leads through the edge) when
	// this node has none, and the agent stays registered while they live.
	// Nil on one node.
	RemoteBindings func(agent string) []registrar.Binding
	// PublishRegistrations, with several nodes, publishes this node's
	// registrations to the others at once: called when a phone
	// registers, before the agent is made available. Nil on one node.
	PublishRegistrations func()
	// RecorderDropped returns the RTP packets recorders dropped since
	// start (recording.Manager's backlog); overload control sheds new
	// calls while it grows. Nil: not watched.
	RecorderDropped func() uint64
	// RecordsHeld returns how many call records are kept only in memory
	// (records.Store's backend and spool both refused them); overload
	// control refuses new calls once sip.overload.records_held are. Nil:
	// not watched.
	RecordsHeld func() int
	// SpoolFree returns the free space on the recording spool's file
	// system and whether it could be read; overload control refuses new
	// calls while it is under sip.overload.spool_free_mb. Nil: not
	// watched (nothing is recorded).
	SpoolFree func() (uint64, bool)
}

// Server is the SIP side of Hotline: registrar plus B2BUA.
type Server struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	floods floodLogs // floodlog.go
	now    func() time.Time
	ports  *media.Ports
	// trunks are where calls may come from (empty: anywhere)
	trunks []netip.Prefix
	hold   *audio.Clip // hold music, nil for the built-in tone
	offers *Offers     // what agents' phones are told of offered calls (offer.go)
	// promptSet is Deps.Prompts, replaced by SetPrompts (a clip being
	// played is never changed: a set is immutable); surveyOK says the
	// set holds the survey's.
	promptSet atomic.Pointer[audio.Prompts]
	surveyOK  atomic.Bool
	reg       *registrar.Registrar

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	// dialogUA per transport ("udp", "tcp", "tls"): its Contact names the
	// listener of that transport.
	dialogUA map[string]*sipgo.DialogUA

	listeners []boundListener

	draining atomic.Bool
	// overload decides when new calls are shed (overload.go); nil: never.
	overload *overload.Detector
	// doors are the door processes' links (doorproc_linux.go), one per
	// UDP listener, which the overload monitor tells Hotline's
	// decisions; nil: none. Replaced, never changed in place.
	doors atomic.Pointer[[]*doorLink]
	// holds are the new calls admitted as Hotline read them from a door
	// process, until their handler takes them (overload_hold.go).
	holds  setupHolds
	active atomic.Int64 // calls in progress
	rings  rings        // agents being rung for queued calls (ReservationLost)
	calls  sync.WaitGroup

	mu    sync.Mutex
	table map[string]*dialogRef // by Call-ID, both legs
	byID  map[string]*call      // by the caller's Call-ID

	runCtx    context.Context
	runCancel context.CancelFunc
	bg        sync.WaitGroup
}

type boundListener struct {
	transport string
	addr      net.Addr
	closer    interface{ Close() error }
	// rest: the socket of a UDP listener for everything but INVITEs,
	// beside the one before it (udpsplit_linux.go).
	rest bool
}

// dialogRef is what the call table knows about one Call-ID: the leg and
// the call it belongs to.
type dialogRef struct {
	call *call
	leg  *Leg
}

// Why an agent did not take an offered call (besides a *refusedError);
// call control sees them as callflow.ErrNoAnswer and
// callflow.ErrUnreachable.
var (
	errNoAnswer    error = &flowError{text: "agent did not answer in time", is: callflow.ErrNoAnswer}
	errUnreachable error = &flowError{text: "agent not registered", is: callflow.ErrUnreachable}
)

// flowError is an error of the SIP side that call control knows as one
// of its own (is).
type flowError struct {
	text string
	is   error
}

func (e *flowError) Error() string { return e.text }
func (e *flowError) Unwrap() error { return e.is }

// New builds a server; nothing listens until Start.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Routes == nil || deps.Routes.Config == nil || deps.Routes.Router == nil || deps.Routes.ACD == nil || deps.Media == nil {
		return nil, errors.New("sip: Routes.Config, Routes.Router, Routes.ACD and Media are required")
	}
	if deps.VoicemailMax <= 0 {
		deps.VoicemailMax = 2 * time.Minute
	}
	s := &Server{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Log,
		floods:   newFloodLogs(deps.Log),
		now:      deps.Now,
		ports:    media.NewPorts(deps.Media.PortMin, deps.Media.PortMax),
		dialogUA: map[string]*sipgo.DialogUA{},
		table:    map[string]*dialogRef{},
		byID:     map[string]*call{},
	}
	trunks, err := cfg.trunkPrefixes()
	if err != nil {
		return nil, err
	}
	s.trunks = trunks
	if s.offers, err = NewOffers(cfg.AgentOffer); err != nil {
		return nil, fmt.Errorf("sip.agent_offer: %w", err)
	}
	if deps.Routes.Config.Queue.HoldMusic != "" {
		a, err := audio.LoadClip(deps.Routes.Config.Queue.HoldMusic)
		if err != nil {
			return nil, fmt.Errorf("queue.hold_music: %w", err)
		}
		s.hold = a
	}
	s.promptSet.Store(deps.Prompts)
	if sv := deps.Survey; sv != nil {
		s.surveyOK.Store(sv.CheckPrompts(deps.Prompts) == nil)
	}
	if err := s.checkIVRPrompts(deps.Prompts); err != nil {
		return nil, err
	}
	rcfg := deps.Routes.Config
	s.reg = registrar.New(cfg.Registrar, func(user string) (registrar.Secret, bool) {
		a, ok := rcfg.Agent(user)
		return registrar.Secret{Password: a.DigestPassword(), HA1MD5: a.HA1, HA1SHA256: a.HA1SHA256}, ok
	}, deps.Now, deps.Log.With("component", "registrar"))
	s.reg.OnChange(func(user string, registered bool) {
		if registered && deps.PublishRegistrations != nil {
			deps.PublishRegistrations() // every node can reach the phone before it rings
		}
		if !registered && deps.RemoteBindings != nil && len(deps.RemoteBindings(user)) > 0 {
			s.log.Info("agent registration gone here, still registered on another node", "agent", user)
			return
		}
		if err := deps.Routes.SetRegistered(user, registered); err != nil {
			s.log.Warn("registration change for unknown agent", "agent", user, "error", err)
		}
		s.log.Info("agent registration", "agent", user, "registered", registered)
	})
	return s, nil
}

// agentBindings returns the live registrations of agent's phone: this
// node's, else those other nodes hold.
func (s *Server) agentBindings(agent string) []registrar.Binding {
	if b := s.reg.Lookup(agent); len(b) > 0 || s.deps.RemoteBindings == nil {
		return b
	}
	return s.deps.RemoteBindings(agent)
}

// Registrar gives access to agents' registrations.
func (s *Server) Registrar() *registrar.Registrar { return s.reg }

// Ports gives access to the RTP port allocator (for leak checks and metrics).
func (s *Server) Ports() *media.Ports { return s.ports }

// ActiveCalls is the number of calls in progress.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Addr returns the bound address of the first listener of a transport.
func (s *Server) Addr(transport string) net.Addr {
	for _, l := range s.listeners {
		if l.transport == transport {
			return l.addr
		}
	}
	return nil
}

// Start binds every listener and serves SIP in the background until
// Shutdown. It returns once all listeners are bound.
func (s *Server) Start(ctx context.Context) error {
	applyLinger(s.cfg.TransactionLinger)     // linger.go
	ua, err := sipgo.NewUA(s.uaOptions()...) // limits.go
	if err != nil {
		return fmt.Errorf("sip: user agent: %w", err)
	}
	s.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(s.log.With("component", "sipgo")))
	if err != nil {
		return fmt.Errorf("sip: server: %w", err)
	}
	s.srv = srv
	s.runCtx, s.runCancel = context.WithCancel(context.WithoutCancel(ctx))
	if mode := s.deps.Media.Kernel; mode == media.KernelOn || mode == media.KernelAuto {
		switch err := s.ports.StartKernel(s.deps.Media, s.log); {
		case err != nil && mode == media.KernelOn:
			_ = ua.Close()
			return fmt.Errorf("rtp.kernel: %w", err)
		case err != nil:
			s.log.Info("rtp relayed in user space: the kernel relay is not available (rtp.kernel: auto)", "reason", err)
		}
	}

	for i, l := range s.cfg.Listen {
		bl, err := s.listen(l)
		if err != nil {
			s.closeListeners()
			_ = s.ports.Close()
			_ = ua.Close()
			return fmt.Errorf("sip: listen[%d] %s %s: %w", i, l.Transport, l.Addr, err)
		}
		s.listeners = append(s.listeners, bl)
		if bl.transport == "udp" && s.cfg.Overload.SplitInvites() {
			rest, err := splitInvites(bl.closer.(*net.UDPConn))
			if err != nil {
				s.log.Info("SIP over UDP: new INVITEs share the socket of every other datagram", "addr", bl.addr.String(), "reason", err)
				continue
			}
			_ = rest.SetReadBuffer(sipUDPReadBuffer)
			s.listeners = append(s.listeners, boundListener{transport: "udp", addr: rest.LocalAddr(), closer: rest, rest: true})
		}
	}
	first := s.listeners[0].addr
	host, _, _ := net.SplitHostPort(first.String())
	if s.cfg.Host != "" {
		host = s.cfg.Host
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientLogger(s.log.With("component", "sipgo")))
	if err != nil {
		s.closeListeners()
		_ = s.ports.Close()
		return fmt.Errorf("sip: client: %w", err)
	}
	s.client = client
	for _, bl := range s.listeners {
		if _, ok := s.dialogUA[bl.transport]; ok {
			continue
		}
		h, p, _ := net.SplitHostPort(bl.addr.String())
		if s.cfg.Host != "" {
			h = s.cfg.Host
		}
		pn, _ := strconv.Atoi(p)
		contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "hotline", Host: h, Port: pn}}
		c := client
		if bl.transport != "udp" {
			contact.Address.UriParams = sip.NewParams()
			contact.Address.UriParams.Add("transport", bl.transport)
		} else if c, err = s.udpClient(ua, host, bl); err != nil {
			s.closeListeners()
			_ = s.ports.Close()
			return fmt.Errorf("sip: client: %w", err)
		}
		s.dialogUA[bl.transport] = &sipgo.DialogUA{Client: c, ContactHDR: contact}
	}

	m := s.deps.Metrics
	count := func(h sipgo.RequestHandler) sipgo.RequestHandler {
		return func(req *sip.Request, tx sip.ServerTransaction) {
			m.SIPRequest(metrics.In, string(req.Method))
			if s.admit(req, tx) { // limits.go: size limits, mandatory headers
				h(req, tx)
			}
		}
	}
	s.startOverload() // overload.go
	srv.OnInvite(count(s.shedInvite(s.onInvite)))
	srv.OnAck(count(s.onAck))
	srv.OnBye(count(s.onBye))
	srv.OnCancel(count(s.onCancel))
	srv.OnOptions(count(s.onOptions))
	srv.OnRegister(count(s.onRegister))
	srv.OnInfo(count(s.onInfo))
	srv.OnRefer(count(s.onRefer)) // refer_server.go
	srv.OnNoRoute(count(s.onNoRoute))

	if s.overload != nil { // before any listener serves: the read filter reads s.listeners
		for i, bl := range s.listeners {
			if bl.transport == "udp" {
				// overload_door.go: new calls refused at the door; closing
				// it wakes its reader.
				socket := metrics.SocketShared
				switch {
				case bl.rest:
					socket = metrics.SocketOthers
				case i+1 < len(s.listeners) && s.listeners[i+1].rest:
					socket = metrics.SocketInvites
				}
				s.listeners[i].closer = s.newShedConn(bl.closer.(net.PacketConn), socket)
				if bl.rest { // the INVITE socket's door also judges by this one's queue
					inv := s.listeners[i-1].closer.(*shedConn)
					inv.others = s.listeners[i].closer.(*shedConn)
					if s.cfg.Overload.SeparateDoor() {
						s.startDoor(inv)
					}
				}
			}
		}
	}
	for _, bl := range s.listeners {
		if bl.transport == "udp" {
			// udpClient's requests find the listener by its address from
			// the start; sipgo would add it only once ServeUDP runs.
			addr := bl.addr.String()
			ua.TransportLayer().Pool("udp").Add(addr, &sip.UDPConnection{PacketConn: bl.closer.(net.PacketConn), PacketAddr: addr, Listener: true})
		}
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			var err error
			switch bl.transport {
			case "udp":
				err = srv.ServeUDP(bl.closer.(net.PacketConn))
			case "tcp":
				err = srv.ServeTCP(bl.closer.(net.Listener))
			case "tls":
				err = srv.ServeTLS(bl.closer.(net.Listener))
			}
			if err != nil && s.runCtx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("SIP listener stopped", "transport", bl.transport, "addr", bl.addr.String(), "error", err)
			}
		}()
		if bl.rest {
			s.log.Info("SIP over UDP: new INVITEs read from a socket of their own", "addr", bl.addr.String())
		} else {
			s.log.Info("SIP listening", "transport", bl.transport, "addr", bl.addr.String())
		}
	}
	s.bg.Add(2)
	go func() {
		defer s.bg.Done()
		s.reg.Run(s.runCtx)
	}()
	go func() {
		defer s.bg.Done()
		s.deps.Routes.RunACD(s.runCtx, 250*time.Millisecond)
	}()
	return nil
}

// udpClient is the client of Hotline's requests over UDP (INVITEs to
// agents, gateways and transfer targets, and every in-dialog request):
// they leave from the listener bl, never from an ephemeral port. A
// Kamailio edge tells its nodes from callers by their source address
// (ds_is_from_list), and a trunk or phone expects the address it knows
// Hotline by. sipgo would reuse the listener only towards an address it
// had already received from, and open a new socket otherwise: a node's
// first INVITE through an edge that had not yet probed it came back as a
// caller's call.
func (s *Server) udpClient(ua *sipgo.UserAgent, host string, bl boundListener) (*sipgo.Client, error) {
	// Start puts the listener in sipgo's pool under this address before
	// it serves.
	return sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientConnectionAddr(bl.addr.String()),
		sipgo.WithClientLogger(s.log.With("component", "sipgo")))
}

// sipUDPReadBuffer is the receive buffer asked for each SIP UDP socket.
const sipUDPReadBuffer = 4 << 20

func (s *Server) listen(l Listener) (boundListener, error) {
	switch l.Transport {
	case "udp":
		c, err := net.ListenPacket("udp", l.Addr)
		if err != nil {
			return boundListener{}, err
		}
		if uc, ok := c.(*net.UDPConn); ok {
			// Room for a stall's worth of requests and responses: with
			// the default (about 200 KiB: ~90 datagrams) a 100 ms stall
			// at 1,000 SIP messages/s drops some, and their senders
			// retransmit only after 500 ms. The kernel caps it at
			// net.core.rmem_max.
			_ = uc.SetReadBuffer(sipUDPReadBuffer)
		}
		return boundListener{transport: "udp", addr: c.LocalAddr(), closer: c}, nil
	case "tcp":
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return boundListener{}, err
		}
		return boundListener{transport: "tcp", addr: ln.Addr(), closer: ln}, nil
	case "tls":
		cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
		if err != nil {
			return boundListener{}, fmt.Errorf("certificate: %w", err)
		}
		ln, err := tls.Listen("tcp", l.Addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			return boundListener{}, err
		}
		return boundListener{transport: "tls", addr: ln.Addr(), closer: ln}, nil
	}
	return boundListener{}, fmt.Errorf("unknown transport %q", l.Transport)
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		_ = l.closer.Close()
	}
}

// Shutdown drains: new calls get 503 with Retry-After, calls in progress
// may finish until ctx ends (or the configured drain timeout passes), then
// the rest are hung up and the listeners close.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.draining.Swap(true) {
		return nil
	}
	defer s.floods.stop()
	s.log.Info("draining", "active_calls", s.active.Load(), "timeout", s.cfg.DrainTimeout)
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() { s.calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-dctx.Done():
		s.mu.Lock()
		var open []*call
		for _, c := range s.byID {
			open = append(open, c)
		}
		s.mu.Unlock()
		s.log.Warn("drain timeout: hanging up calls", "calls", len(open))
		for _, c := range open {
			c.end(callflow.ErrShutdown)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.log.Error("calls did not finish after hang-up")
		}
	}
	s.runCancel()
	s.closeListeners()
	err := s.ua.Close()
	s.bg.Wait()
	err = errors.Join(err, s.ports.Close())
	s.log.Info("SIP stopped")
	return err
}

// register puts a Call-ID in the call table.
func (s *Server) register(callID string, ref *dialogRef) {
	s.mu.Lock()
	s.table[callID] = ref
	s.mu.Unlock()
}

func (s *Server) unregister(callID string) {
	s.mu.Lock()
	delete(s.table, callID)
	s.mu.Unlock()
}

func (s *Server) lookup(req *sip.Request) *dialogRef {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	s.mu.Lock()
	ref := s.table[cid.Value()]
	s.mu.Unlock()
	if ref != nil && !ref.inDialog(req) { // indialog.go: the tags must match too
		return nil
	}
	return ref
}

// respond answers a request outside any dialog, logging failures.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("response not sent", "status", code, "method", req.Method, "error", err)
		return
	}
	s.deps.Metrics.SIPResponse(metrics.Out, string(req.Method), code)
}

// RTPKernel returns the in-kernel relay's counters; ok is false when
// rtp.kernel is off.
func (s *Server) RTPKernel() (metrics.RTPKernel, bool) {
	c, ok := s.ports.KernelStats()
	return metrics.RTPKernel{Relayed: c.Relayed, RingFull: c.RingFull, TooLong: c.TooLong}, ok
}

// RTPStats returns the media counters of every leg in progress.
func (s *Server) RTPStats() []metrics.RTPStats {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.byID))
	for _, c := range s.byID {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	out := make([]metrics.RTPStats, 0, 2*len(calls))
	for _, c := range calls {
		for _, l := range c.allLegs() {
			out = append(out, rtpStats(l.media.Stats()))
		}
	}
	return out
}

func rtpStats(st media.Stats) metrics.RTPStats {
	return metrics.RTPStats{
		PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut,
		BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		LostIn: st.Lost, Dropped: st.Dropped, JitterIn: st.Jitter,
	}
}

// legEnded hands a closed leg's final counters to the metrics.
func (s *Server) legEnded(l *media.Leg) {
	s.deps.Metrics.RTPLegEnded(rtpStats(l.Stats()))
}

// fromTrunk says whether a request comes from an address calls are
// accepted from without authentication.
func (s *Server) fromTrunk(req *sip.Request) bool {
	if len(s.trunks) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.trunks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) retryAfter() sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
}

const allowMethods = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, REFER"

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	code, reason := 200, "OK"
	if s.draining.Load() {
		code, reason = 503, "Service Unavailable"
	}
	s.respond(req, tx, code, reason,
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", ""),
	)
}

func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	s.reg.HandleRegister(req, tx)
}

func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowMethods))
}

func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL matching a pending INVITE is handled by the transaction
	// layer; one that reaches us matches nothing.
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	if s.lookup(req) == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.respond(req, tx, 200, "OK")
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	ref := s.lookup(req)
	if ref == nil || ref.leg.srv == nil {
		return // ACKs to answers from phones Hotline called need nothing from us
	}
	if err := ref.leg.srv.ReadAck(req, tx); err != nil {
		ref.call.log.Debug("ACK not for the last INVITE", "error", err)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	ref := s.lookup(req)
	if ref == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c, leg := ref.call, ref.leg
	if err := leg.readBye(req, tx); err != nil {
		c.log.Warn(leg.role.String()+" BYE", "error", err)
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	switch leg.role {
	case RoleCaller:
		c.end(callflow.ErrCallerHangup)
	case RoleCustomer, RoleOutside:
		c.end(hangupCause(leg.role))
	default:
		c.agentLeft()
	}
}

// currentPrompts is the prompt set in force.
func (s *Server) currentPrompts() *audio.Prompts { return s.promptSet.Load() }

// SetPrompts replaces the prompts (a reload of their files): calls reach
// the new set at their next prompt, a clip being played plays to its
// end. A set that lacks the IVR's questions, or the survey's prompts
// when the survey is on, is refused and the old set stays.
func (s *Server) SetPrompts(p *audio.Prompts) error {
	if err := s.checkIVRPrompts(p); err != nil {
		return err
	}
	sv := s.deps.Survey
	if sv != nil && sv.On() {
		if err := sv.CheckPrompts(p); err != nil {
			return err
		}
	}
	s.promptSet.Store(p)
	s.surveyOK.Store(sv != nil && sv.CheckPrompts(p) == nil)
	return nil
}
