package callflow

import (
	"errors"
	"sync"

	"hotline/routing/acd"
)

// An attended transfer: the agent holds the caller, calls a colleague
// or a queue through Hotline from the same phone (the consultation),
// talks to them, then completes with REFER + Replaces: the
// consultation's target takes the agent's place in the held call. This
// is its policy: who may consult, which dialog a Replaces may name, who
// is hung up when the consultation ends, and the consultation's state
// (target answered, handed over to the held call, ended). The dialogs,
// the ringing and the bridges are the SIP side's.

// Refusals of a consultation or of the REFER completing it (the SIP side
// answers each with its own status).
var (
	// ErrNoCallToConsult: an agent calls another agent or a queue while
	// on no hotline call (internal calls are consultations only).
	ErrNoCallToConsult = errors.New("internal calls are consultations of an agent's hotline call")
	// ErrConsultSelf: an agent calls their own username.
	ErrConsultSelf = errors.New("the consultation names the consulting agent")
	// ErrNotConsultation: a Replaces names a dialog that is not an
	// answered consultation of the referring agent still in progress.
	ErrNotConsultation = errors.New("replaces names no answered consultation of this agent")
	// ErrReferInConsultation: the consultation's target sends REFER in
	// it (only the consulting agent completes a transfer).
	ErrReferInConsultation = errors.New("REFER from the consultation's target")
	// ErrReplacesRequired: a REFER in a consultation without Replaces.
	ErrReplacesRequired = errors.New("a REFER in a consultation must name the held call with Replaces")
	// ErrNoHeldDialog: a REFER in a consultation whose Replaces does not
	// name the consulting agent's leg of the held call.
	ErrNoHeldDialog = errors.New("replaces names no leg of the consulting agent's held call")
)

// CheckConsult says whether agent may place a consultation call to
// targetAgent ("" for a queue's transfer number): only while on a
// hotline call (onCall), and never to themselves.
func CheckConsult(agent string, onCall bool, targetAgent string) error {
	switch {
	case !onCall:
		return ErrNoCallToConsult
	case targetAgent == agent:
		return ErrConsultSelf
	}
	return nil
}

// Consults makes c the pseudo call of agent's consultation (id: the
// agent's consultation dialog) while held waits on hold: the target is
// offered the held call's caller, hotline, customer, routing and reason,
// with agent as who transfers it. It is never listed and leaves no record
// (Pseudo): a completed transfer is noted in the held call's. It ends
// when the agent hangs up (unless a semi-attended transfer is waiting for
// the target) or when the held call ends (ConsultationEnds).
func (c *Call[L]) Consults(held *Call[L], id, agent string) {
	c.inherit(held, id)
	c.NoteTransferredBy(agent)
}

// ConsultationEnds is why a consultation ends, given what happened:
// the consulting agent hung up (agentLeft; ignored while semi, a
// semi-attended transfer waiting for the target) or the held call ended
// (heldEnded). nil: it goes on.
func ConsultationEnds(agentLeft, semi, heldEnded bool) error {
	switch {
	case heldEnded:
		return ErrHeldCallEnded
	case agentLeft && !semi:
		return ErrCallerHangup
	}
	return nil
}

// ErrHeldCallEnded ends a consultation whose held call ended.
var ErrHeldCallEnded = errors.New("the held call ended")

// Consultation is one agent's consultation call while on a hotline call;
// L is the SIP side's leg. Its methods are safe for concurrent use.
type Consultation[L comparable] struct {
	agent string

	mu       sync.Mutex
	target   L               // the target's leg, once answered
	qc       *acd.QueuedCall // the consultation's place in the ACD
	ended    bool            // the consultation is over
	handed   bool            // a transfer took the target's leg
	semi     bool            // a semi-attended transfer waits for the target to answer
	taken    chan struct{}   // closed when a transfer took the target
	answered chan struct{}   // closed when the target answered
	over     chan struct{}   // closed when the consultation ended
}

// NewConsultation starts agent's consultation (its target not reached
// yet).
func NewConsultation[L comparable](agent string) *Consultation[L] {
	return &Consultation[L]{agent: agent, taken: make(chan struct{}), answered: make(chan struct{}), over: make(chan struct{})}
}

// Agent is who consults.
func (c *Consultation[L]) Agent() string { return c.agent }

// Connected notes the target's answered leg and the consultation's ACD
// call (the target's, connected).
func (c *Consultation[L]) Connected(target L, qc *acd.QueuedCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero L
	if c.target == zero && target != zero {
		close(c.answered)
	}
	c.target, c.qc = target, qc
}

// Target is the target's answered leg while the consultation goes on
// (ok false before the target answered, once it ended or was handed
// over).
func (c *Consultation[L]) Target() (target L, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero L
	if c.target == zero || c.ended || c.handed {
		return zero, false
	}
	return c.target, true
}

// Close ends the consultation and reports whether a transfer took the
// target first (then the target's leg and ACD call are the held call's;
// otherwise the SIP side hangs the target up and the ACD call ends).
func (c *Consultation[L]) Close() (handed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.ended = true
		close(c.over)
	}
	return c.handed
}

// Answered is closed once the target answered; Over once the
// consultation ended.
func (c *Consultation[L]) Answered() <-chan struct{} { return c.answered }

// Over is closed once the consultation ended (Close).
func (c *Consultation[L]) Over() <-chan struct{} { return c.over }

// HandOver gives the target's leg and ACD call to the held call's
// transfer, once: false when the target has not answered, the
// consultation ended or was handed over already, or take (called with
// the target, under the consultation's lock, to take the leg out of the
// consultation's call before its teardown can hang it up) says the leg
// is gone.
func (c *Consultation[L]) HandOver(take func(L) bool) (L, *acd.QueuedCall, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero L
	if c.ended || c.handed || c.target == zero || !take(c.target) {
		return zero, nil, false
	}
	c.handed = true
	return c.target, c.qc, true
}

// Taken is closed once the held call took the target (Transferred).
func (c *Consultation[L]) Taken() <-chan struct{} { return c.taken }

// Transferred says the held call took the target: the consultation
// ends (its agent's leg is hung up). Call it once, after HandOver.
func (c *Consultation[L]) Transferred() { close(c.taken) }

// Replaced is a REFER + Replaces in the held call (the usual direction)
// as the SIP side matched it: Replaces names this consultation's dialog.
type Replaced struct {
	// AgentLeg: it names the consulting agent's leg of the consultation
	// (the one Hotline answered), not the target's.
	AgentLeg bool
	// Referrer is the agent whose leg of a held call sent the REFER;
	// OnHeldCall says that leg is still in the held call.
	Referrer   string
	OnHeldCall bool
}

// Replaceable says whether a REFER r may complete the transfer with this
// consultation, and returns its target: only the consulting agent, from
// the held call, naming their own leg of an answered consultation still
// in progress (else ErrNotConsultation).
func (c *Consultation[L]) Replaceable(r Replaced) (L, error) {
	var zero L
	if !r.AgentLeg || r.Referrer != c.agent || !r.OnHeldCall {
		return zero, ErrNotConsultation
	}
	target, ok := c.Target()
	if !ok {
		return zero, ErrNotConsultation
	}
	return target, nil
}

// ReferInside is a REFER sent in the consultation itself (some phones
// REFER the target to the held call, Replaces naming the agent's leg of
// the held call) as the SIP side matched it.
type ReferInside struct {
	// FromAgent: it came in the consulting agent's leg (not the
	// target's).
	FromAgent bool
	// Replaces: it carries Replaces; NamesHeldLeg: that names the
	// consulting agent's leg of the held call.
	Replaces, NamesHeldLeg bool
}

// ReferableInside says whether REFER r in the consultation completes the
// transfer, and returns its target: only from the consulting agent, only
// with Replaces naming their leg of the held call, only once the target
// answered and while the consultation goes on.
func (c *Consultation[L]) ReferableInside(r ReferInside) (L, error) {
	var zero L
	switch {
	case !r.FromAgent:
		return zero, ErrReferInConsultation
	case !r.Replaces:
		return zero, ErrReplacesRequired
	case !r.NamesHeldLeg:
		return zero, ErrNoHeldDialog
	}
	target, ok := c.Target()
	if !ok {
		return zero, ErrNotConsultation
	}
	return target, nil
}

// ErrConsultationDone ends a consultation whose target a transfer took.
var ErrConsultationDone = errors.New("consultation transferred")

// ConsultationHangUp says who Hotline hangs up when a consultation ends
// with cause: the consulting agent's leg unless they hung up
// (ErrCallerHangup: the consultation's caller is the agent), the target
// unless they hung up (ErrAgentHangup). A target a transfer took is no
// longer the consultation's. The held caller is not touched: they stay
// held until the agent retrieves them.
func ConsultationHangUp(cause error) (agent, target bool) {
	return !errors.Is(cause, ErrCallerHangup), !errors.Is(cause, ErrAgentHangup)
}

// Semi-attended transfer: the agent completes (REFER + Replaces naming
// the consultation) while the target still rings, as Asterisk and
// FreeSWITCH allow. The agent leaves at once; the caller hears ringing;
// the target, when they answer, is bridged with the caller (not with the
// agent, whose consultation is over); if nobody answers, the caller goes
// back to their queue first in line, like after a blind transfer to an
// agent who did not take the call.

// Ringing says whether REFER r may complete the transfer with this
// consultation while its target still rings (semi-attended): only the
// consulting agent, from the held call, naming their own leg of a
// consultation whose target has not answered and that goes on.
func (c *Consultation[L]) Ringing(r Replaced) error {
	if !r.AgentLeg || r.Referrer != c.agent || !r.OnHeldCall {
		return ErrNotConsultation
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero L
	if c.ended || c.handed || c.target != zero {
		return ErrNotConsultation
	}
	return nil
}

// SetSemiAttended marks (on) or unmarks the consultation as completed by
// a semi-attended transfer, waiting for its target: from then on the
// agent hanging the consultation up does not stop the ringing. Marking
// fails (false) once the target answered or the consultation ended.
func (c *Consultation[L]) SetSemiAttended(on bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero L
	if on && (c.ended || c.handed || c.target != zero) {
		return false
	}
	c.semi = on
	return true
}

// SemiAttended says whether a semi-attended transfer waits for the
// target.
func (c *Consultation[L]) SemiAttended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.semi
}
