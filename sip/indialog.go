package sip

import (
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// inDialog tells whether a request that names a call's Call-ID belongs to
// the dialog ref stands for (RFC 3261 §12.2.2): its To tag must be the tag
// Hotline chose for the dialog and, on the caller's leg, its From tag the
// caller's. A request with the right Call-ID but other tags (a stray or
// forged BYE, re-INVITE, INFO or ACK) does not touch the call: it gets 481.
func (ref *dialogRef) inDialog(req *sip.Request) bool {
	if req.From() == nil || req.To() == nil {
		return false
	}
	to, from := toTag(req.To()), fromTag(req.From())
	inv := ref.leg.inviteRequest()
	if inv == nil {
		return true // not sent yet: nothing to tell by
	}
	if ref.leg.srv == nil {
		// A leg Hotline placed: Hotline's tag is the From tag of its
		// INVITE. (The peer's tag is in the answer, which sipgo writes
		// while requests may arrive; Hotline's tag alone is unguessable.)
		return to != "" && to == fromTag(inv.From())
	}
	// The caller's INVITE as sipgo keeps it carries Hotline's To tag.
	return to != "" && to == toTag(inv.To()) && from == fromTag(inv.From())
}

// callIDInUse tells whether a new INVITE (no To tag) names the Call-ID of
// a call in progress. The call table holds one dialog per Call-ID: taking
// the INVITE as a new call would replace the call in progress there, which
// then could not be hung up, found by BYE or drained (RFC 3261 §8.2.2.2:
// a merged request gets 482).
func (s *Server) callIDInUse(req *sip.Request) bool {
	cid := req.CallID()
	if cid == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.table[cid.Value()]
	return ok
}

func callIDInUseWarning() sip.Header {
	return sip.NewHeader("Warning", `399 hotline "Call-ID already in use"`)
}

// confirmed tells whether the caller has acknowledged Hotline's answer.
// Until then a re-INVITE gets 500 with Retry-After (RFC 3261 §14.2): sipgo
// would take its CSeq as the dialog's and refuse the ACK still on its way,
// and the call would wait for an ACK that never matches.
func confirmed(dlg *sipgo.DialogServerSession) bool {
	return dlg == nil || dlg.LoadState() >= sip.DialogStateConfirmed
}

func fromTag(h *sip.FromHeader) string {
	if h == nil {
		return ""
	}
	t, _ := h.Params.Get("tag")
	return t
}

func toTag(h *sip.ToHeader) string {
	if h == nil {
		return ""
	}
	t, _ := h.Params.Get("tag")
	return t
}
