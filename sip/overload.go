package sip

import (
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/sip/overload"
)

// startOverload starts overload control (sip/overload) when enabled: a
// monitor samples the scheduling lag, the SIP UDP sockets' receive
// buffers, CPU and the recorders' drops until Shutdown.
func (s *Server) startOverload() {
	c := s.cfg.Overload
	if !c.On() {
		return
	}
	s.overload = overload.NewDetector(c)
	s.deps.Metrics.OverloadMaxCPS(s.overload.MaxCPS())
	var socks []syscall.Conn
	for _, l := range s.listeners {
		if sc, ok := l.closer.(syscall.Conn); ok && l.transport == "udp" {
			socks = append(socks, sc)
		}
	}
	m := s.deps.Metrics
	mon := overload.NewMonitor(s.overload, overload.Sources{
		Sockets:         socks,
		RecorderDropped: s.deps.RecorderDropped,
		RTPDelay:        s.ports.TakeReadDelay,
		RecordsHeld:     s.deps.RecordsHeld,
		SpoolFree:       s.deps.SpoolFree,
		OnSample: func(st overload.State) {
			// The saturation gauge includes the calls in setup against
			// max_setups (refused at once, not sampled).
			m.Overload(max(st.Saturation, s.overload.SetupShare()), st.Shedding, st.Share)
			m.OverloadLearned(st.Learned)
			if n := s.holds.expire(time.Now()); n > 0 {
				s.log.Warn("new calls read but never handled: their places among the calls in setup released",
					"calls", n, "after", holdExpiry)
			}
			for _, l := range s.doorLinks() {
				l.publish(s.overload, st)
			}
		},
		Log: s.log.With("component", "overload"),
	})
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		mon.Run(s.runCtx)
	}()
}

// startDoor starts the door process (sip.overload.door_process) on the
// INVITE socket's door c; when it cannot, Hotline's own reader stays the
// door, and the log says why.
func (s *Server) startDoor(c *shedConn) {
	l, err := s.startDoorProcess(c)
	if err != nil {
		s.log.Error("door process not started: Hotline reads the INVITE socket itself", "error", err)
		return
	}
	c.doorProc = l
	c.holds = &s.holds
	c.link.Store(l)
	ls := append(slices.Clone(s.doorLinks()), l)
	s.doors.Store(&ls)
	// The door processes refuse on the calls in setup as new INVITEs
	// arrive: each change is theirs at once (the next sample writes it
	// again).
	s.overload.OnSetups(func(n int64) {
		for _, l := range s.doorLinks() {
			l.publishSetups(n)
		}
	})
	s.log.Info("door process started", "pid", l.cmd.Process.Pid)
}

// doorLinks returns the door processes' links started so far.
func (s *Server) doorLinks() []*doorLink {
	if p := s.doors.Load(); p != nil {
		return *p
	}
	return nil
}

// SetMaxCPS applies a new sip.overload.max_cps (new calls admitted a
// second; 0: no bound) while Hotline runs, as a configuration reload
// does, like FreeSWITCH's "fsctl sps". It reports false, changing
// nothing, when overload control is off (sip.overload.enabled: false):
// turning it on needs a restart.
func (s *Server) SetMaxCPS(rate float64) bool {
	if s.overload == nil {
		return false
	}
	if old := s.overload.MaxCPS(); old != rate {
		s.overload.SetMaxCPS(rate)
		for _, l := range s.doorLinks() {
			l.publishRates(s.overload)
		}
		s.deps.Metrics.OverloadMaxCPS(s.overload.MaxCPS())
		s.log.Info("sip.overload.max_cps applied", "was", old, "now", s.overload.MaxCPS())
	}
	return true
}

// shedInvite refuses a new call (an INVITE without a To tag) with 503 and
// Retry-After while Hotline is overloaded, or while sip.overload.max_setups
// new calls are being set up already, before any other work: no RTP
// port, no SDP, no routing. In-dialog requests (re-INVITE, ACK, BYE,
// CANCEL) and REGISTER are never shed. An admitted call's setupDone is
// called once its setup is over (an agent rung, the caller answered, the
// call ended); the handler may call it earlier.
func (s *Server) shedInvite(h func(*sip.Request, sip.ServerTransaction, func())) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if inDialog(req) {
			h(req, tx, func() {})
			return
		}
		// A new INVITE over UDP passed the door (overload_door.go), which
		// drew its shedding share and took its sip.overload.max_cps
		// token; one over TCP or TLS is judged by both here. (An INVITE
		// the door could not parse passes it unjudged; sipgo then parses
		// it, or answers 400.)
		udp := strings.EqualFold(req.Transport(), "udp")
		var done func()
		var why overload.Reason
		ok := false
		if udp {
			// Admitted as Hotline read it, for the door process
			// (overload_hold.go).
			done, ok = s.holds.take(callIDOf(req))
		}
		if !ok {
			done, why, ok = s.overload.Admit(!udp)
		}
		if !ok {
			s.deps.Metrics.CallRefused(string(why))
			s.log.Debug("call refused: overloaded", "call_id", callIDOf(req), "reason", why)
			s.respond(req, tx, 503, "Service Unavailable",
				sip.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.Overload.RetryAfter/time.Second))),
				sip.NewHeader("Warning", `399 hotline "overloaded"`))
			return
		}
		defer done()
		h(req, tx, done)
	}
}

// inDialog reports a request inside a dialog: its To header has a tag.
func inDialog(req *sip.Request) bool {
	if to := req.To(); to != nil {
		tag, ok := to.Params.Get("tag")
		return ok && tag != ""
	}
	return false
}
