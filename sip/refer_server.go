package sip

import (
	"github.com/emiago/sipgo/sip"

	"hotline/metrics"
)

// onRefer answers a REFER (RFC 3515) in one of Hotline's dialogs. Only an
// agent's leg may transfer its call; the Refer-To must name an agent, a
// queue's transfer number or an allowed outside number; an attended
// transfer's Replaces must name a dialog in progress. A refused REFER
// changes nothing: the call goes on as it was.
//
// A blind transfer to an agent, a queue's transfer number or an allowed
// outside number is answered 202 and carried out by the call's queue
// loop (transfer_call.go, outside_transfer.go). An attended transfer
// (Replaces naming the agent's answered consultation, attended_call.go)
// is answered 202 and carried out the same way: the consultation's
// target takes the agent's place. Completed while the consultation's
// target still rings (semi-attended), the agent leaves at once and the
// caller gets the ringing target, or goes back to their queue first in
// line if nobody answers.
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	ref := s.lookup(req)
	if ref == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c, leg := ref.call, ref.leg
	if c.consult != nil { // a REFER in an agent's consultation (attended_call.go)
		s.referInConsultation(req, tx, c.consult, leg)
		return
	}
	kind := metrics.TransferBlind
	target, err := s.checkRefer(req, leg, &kind)
	if err != nil {
		code, reason := StatusOf(err)
		c.log.Info("transfer refused", "agent", leg.peer, "status", code, "reason", err)
		s.deps.Metrics.Transfer(c.ID(), kind, metricsTarget(target), metrics.TransferRefused)
		s.respond(req, tx, code, reason)
		return
	}
	o := transferOrder{target: target, kind: kind, by: leg.peer, leg: leg, at: s.now(), accepted: make(chan struct{})}
	semi := false // semi-attended: the consultation's target still rings
	if kind == metrics.TransferAttended {
		o.consult = s.consultationOf(req, leg) // attended_call.go; nil if ended since checkRefer
		if o.consult != nil {
			if _, answered := o.consult.Target(); !answered {
				semi = o.consult.SetSemiAttended(true) // the agent's CANCEL no longer stops the ringing
				if _, answered = o.consult.Target(); !semi && !answered {
					o.consult = nil
				}
				if semi { // counted and recorded apart from attended transfers
					kind = metrics.TransferSemiAttended
					o.kind = kind
				}
			}
		}
		if o.consult == nil {
			s.deps.Metrics.Transfer(c.ID(), kind, metricsTarget(target), metrics.TransferRefused)
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
			return
		}
	}
	if leg.cli != nil {
		o.progress = NewReferProgress(leg.cli, req, false)
	} else {
		o.progress = NewReferProgress(leg.srv, req, false)
	}
	if err := c.orderTransfer(o); err != nil {
		if semi {
			o.consult.SetSemiAttended(false)
		}
		code, reason := StatusOf(err)
		c.log.Info("transfer refused", "agent", leg.peer, "status", code, "reason", err)
		s.deps.Metrics.Transfer(c.ID(), kind, metricsTarget(target), metrics.TransferRefused)
		s.respond(req, tx, code, reason)
		return
	}
	c.log.Info("transfer accepted", "agent", leg.peer, "target", target.String(), "kind", kind)
	if err := tx.Respond(ReferAccepted(req)); err != nil {
		c.log.Info("202 to the REFER not sent", "agent", leg.peer, "error", err)
	}
	close(o.accepted)
}

// checkRefer applies every check of a REFER on leg and returns its
// target; kind becomes attended when the REFER carries Replaces.
func (s *Server) checkRefer(req *sip.Request, leg *Leg, kind *string) (Target, error) {
	if leg.role != RoleAgent {
		return Target{}, ErrReferFromCaller
	}
	r, err := ParseRefer(req)
	if err != nil {
		return Target{}, err
	}
	if r.Replaces != nil {
		*kind = metrics.TransferAttended
		if !s.dialogInProgress(*r.Replaces) {
			return Target{}, ErrNoDialog
		}
		// The consultation says who the target is: phones put its
		// dialog's remote target (Hotline's Contact) in Refer-To.
		_, target, err := s.replacedConsultation(*r.Replaces, leg) // attended_call.go
		return target, err
	}
	return s.transfers().Resolve(r.Target)
}

// transfers are the targets the configuration allows.
func (s *Server) transfers() *Transfers {
	rc := s.deps.Routing
	agents := make([]string, len(rc.Agents))
	for i, a := range rc.Agents {
		agents[i] = a.Username
	}
	queues := make([]TransferQueue, len(rc.Queues))
	for i, q := range rc.Queues {
		queues[i] = TransferQueue{Name: q.Name, TransferNumber: q.TransferNumber}
	}
	return NewTransfers(agents, queues, s.cfg.Outbound)
}

// dialogInProgress reports whether r names one of Hotline's dialogs.
func (s *Server) dialogInProgress(r Replaces) bool {
	s.mu.Lock()
	ref := s.table[r.CallID]
	s.mu.Unlock()
	return ref != nil && r.Matches(ref.leg.DialogID())
}

// DialogID identifies the leg's dialog (empty before it exists).
func (l *Leg) DialogID() DialogID {
	switch {
	case l.srv != nil:
		return ServerDialogID(l.srv)
	case l.cli != nil:
		return ClientDialogID(l.cli)
	}
	return DialogID{}
}

// metricsTarget is the metrics' label for a target kind.
func metricsTarget(t Target) string {
	switch t.Kind {
	case TargetQueue:
		return metrics.TransferToQueue
	case TargetNumber:
		return metrics.TransferToNumber
	}
	return metrics.TransferToAgent
}
