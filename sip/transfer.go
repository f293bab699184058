package sip

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
)

// TargetKind is what a transfer sends the caller to.
type TargetKind string

// Transfer target kinds.
const (
	TargetAgent  TargetKind = "agent"  // ring one agent
	TargetQueue  TargetKind = "queue"  // back into a queue
	TargetNumber TargetKind = "number" // an outside number, through the outbound gateway
)

// Target is where a transfer sends the caller: an agent's username, a
// queue's name or an outside number.
type Target struct {
	Kind TargetKind
	Name string
}

// String is the API's form: agent:bob, queue:complaints, number:+84....
func (t Target) String() string { return string(t.Kind) + ":" + t.Name }

// ParseTarget reads the API's form of a target (kind:name). It checks the
// form only; Transfers.Check says whether the target exists.
func ParseTarget(s string) (Target, error) {
	kind, name, ok := strings.Cut(strings.TrimSpace(s), ":")
	t := Target{Kind: TargetKind(strings.ToLower(kind)), Name: name}
	switch {
	case !ok || name == "":
		return t, fmt.Errorf("transfer target %q: want agent:<username>, queue:<name> or number:<+digits>", s)
	case t.Kind != TargetAgent && t.Kind != TargetQueue && t.Kind != TargetNumber:
		return t, fmt.Errorf("transfer target %q: unknown kind %q (agent, queue or number)", s, kind)
	}
	return t, nil
}

// Transfers knows what a transfer may name: the configured agents, the
// queues and their transfer numbers, and which outside numbers the
// outbound gateway may be asked to call. It is built from the
// configuration and read-only afterwards.
type Transfers struct {
	agents   map[string]bool
	queues   map[string]bool
	numbers  map[string]string // transfer number -> queue
	outbound bool              // a gateway is configured
	prefixes []string          // outside numbers must start with one
}

// TransferQueue is a queue a transfer may name, with its transfer number
// (empty: reachable by name through the API only). The routing
// configuration validates the numbers (queues[].transfer_number).
type TransferQueue struct {
	Name           string
	TransferNumber string
}

// NewTransfers builds the transfer targets. An outside number is allowed
// only with an outbound gateway and only when it starts with one of
// out.AllowedPrefixes: without allowed prefixes no outside transfer is
// made (a transfer must never turn Hotline into a free line abroad).
func NewTransfers(agents []string, queues []TransferQueue, out Outbound) *Transfers {
	t := &Transfers{agents: map[string]bool{}, queues: map[string]bool{}, numbers: map[string]string{},
		outbound: out.Enabled(), prefixes: append([]string(nil), out.AllowedPrefixes...)}
	for _, a := range agents {
		t.agents[a] = true
	}
	for _, q := range queues {
		t.queues[q.Name] = true
		if q.TransferNumber != "" {
			t.numbers[q.TransferNumber] = q.Name
		}
	}
	return t
}

// Reason phrases of refused transfer targets.
const (
	errTargetUnknown = "Unknown Transfer Target"
	errNotAllowed    = "Number Not Allowed"
)

// Resolve maps a REFER's Refer-To URI to a target: its user part is an
// agent's username, a queue's transfer number or an outside number (or a
// tel URI's number). Only the user part counts: Hotline never sends a
// call to the URI's host. Unknown names are refused 404, outside numbers
// not allowed 403 (Refusal).
func (t *Transfers) Resolve(uri sip.Uri) (Target, error) {
	user := uri.User
	if strings.EqualFold(uri.Scheme, "tel") {
		return t.checkNumber(user)
	}
	switch {
	case user == "":
		return Target{}, refuse(404, errTargetUnknown, "Refer-To %s names no user", uri.String())
	case t.agents[user]:
		return Target{Kind: TargetAgent, Name: user}, nil
	case t.numbers[user] != "":
		return Target{Kind: TargetQueue, Name: t.numbers[user]}, nil
	case dialable(user):
		// An outside number if it is one Hotline may call; an
		// international number it may not call is refused as such.
		if tg, err := t.checkNumber(user); err == nil || strings.HasPrefix(user, "+") {
			return tg, err
		}
	}
	return Target{}, refuse(404, errTargetUnknown, "%q is no agent, transfer number or allowed outside number", user)
}

// Check says whether a target named through the API exists and may be
// used (404 unknown agent or queue, 403 number not allowed).
func (t *Transfers) Check(tg Target) error {
	switch tg.Kind {
	case TargetAgent:
		if !t.agents[tg.Name] {
			return refuse(404, errTargetUnknown, "no agent %q", tg.Name)
		}
	case TargetQueue:
		if !t.queues[tg.Name] {
			return refuse(404, errTargetUnknown, "no queue %q", tg.Name)
		}
	case TargetNumber:
		_, err := t.checkNumber(tg.Name)
		return err
	default:
		return refuse(400, "Bad Transfer Target", "unknown target kind %q", tg.Kind)
	}
	return nil
}

func (t *Transfers) checkNumber(n string) (Target, error) {
	tg := Target{Kind: TargetNumber, Name: n}
	if !dialable(n) {
		return tg, refuse(404, errTargetUnknown, "%q is not a phone number", n)
	}
	err := callflow.CheckOutsideNumber(n, t.outbound, t.prefixes) // the policy: callflow/outside.go
	switch {
	case err == nil:
		return tg, nil
	case errors.Is(err, callflow.ErrNoGateway):
		return tg, &Refusal{Code: 403, Reason: "No Outbound Gateway", Err: err}
	}
	return tg, &Refusal{Code: 403, Reason: errNotAllowed, Err: err}
}

// ErrReferFromCaller refuses a REFER sent by the caller's side: only
// agents transfer calls (and supervisors through the API).
var ErrReferFromCaller = &Refusal{Code: 403, Reason: "Only Agents Transfer", Err: errors.New("REFER from the caller's side")}
