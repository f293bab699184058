package sip

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/routing/acd"
	"hotline/sip/media"
)

// Feature codes an agent dials from their softphone.
const (
	FeatureLogin   = "*21" // log in: take calls
	FeatureLogout  = "*22" // log out
	FeaturePause   = "*23" // pause (reason "softphone")
	FeatureUnpause = "*24" // unpause
	// FeatureDisposition followed by a wrap-up code's key (dispositions[]
	// key: *251 for key 1) gives the agent's last call that code.
	FeatureDisposition = "*25"
)

// featureCodes tells the feature codes from hotline numbers.
var featureCodes = map[string]bool{FeatureLogin: true, FeatureLogout: true, FeaturePause: true, FeatureUnpause: true}

// isFeatureCode tells a feature code (*25 with a key included) from a
// hotline number.
func isFeatureCode(user string) bool {
	return featureCodes[user] || (strings.HasPrefix(user, FeatureDisposition) && len(user) > len(FeatureDisposition))
}

// ErrUnknownDispositionKey is what Deps.Disposition answers for a key no
// wrap-up code has.
var ErrUnknownDispositionKey = errors.New("no wrap-up code has this key")

// onFeatureCode handles an agent dialling a feature code: the INVITE must
// authenticate as the agent (digest, like REGISTER). Done, the call is
// answered with two short high beeps and hung up; refused, the phone gets
// 403 with the reason (e.g. "Not Registered").
func (s *Server) onFeatureCode(req *sip.Request, tx sip.ServerTransaction, code string) {
	user, ok := s.reg.Authenticate(req, tx)
	if !ok {
		return // answered 401/403
	}
	var err error
	switch {
	case strings.HasPrefix(code, FeatureDisposition):
		if s.deps.Disposition == nil {
			err = ErrUnknownDispositionKey
		} else {
			err = s.deps.Disposition(user, strings.TrimPrefix(code, FeatureDisposition))
		}
	default:
		err = s.simpleFeature(user, code)
	}
	if err != nil {
		s.log.Info("feature code refused", "agent", user, "code", code, "error", err)
		s.respond(req, tx, 403, refusalReason(err))
		return
	}
	s.log.Info("feature code", "agent", user, "code", code)
	s.confirmFeature(req, tx)
}

// simpleFeature carries out *21-*24.
func (s *Server) simpleFeature(user, code string) error {
	acd := s.deps.ACD
	var err error
	switch code {
	case FeatureLogin:
		err = acd.Login(user)
	case FeatureLogout:
		err = acd.Logout(user)
	case FeaturePause:
		err = acd.Pause(user, "softphone")
	case FeatureUnpause:
		err = acd.Unpause(user)
	}
	return err
}

// refusalReason is the reason phrase a softphone shows for a refused
// feature code.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, acd.ErrNotRegistered):
		return "Not Registered"
	case errors.Is(err, acd.ErrNotLoggedIn):
		return "Not Logged In"
	case errors.Is(err, acd.ErrUnknownAgent):
		return "Not An Agent"
	case errors.Is(err, acd.ErrNoLastCall):
		return "No Call To Code"
	case errors.Is(err, ErrUnknownDispositionKey):
		return "No Such Code"
	}
	return "Forbidden"
}

// confirmFeature answers a feature-code call, plays the confirmation
// beeps and hangs up. Without usable SDP it answers 488 (the action is
// done all the same).
func (s *Server) confirmFeature(req *sip.Request, tx sip.ServerTransaction) {
	leg, ok := s.acceptFeatureCall(req, tx)
	if !ok {
		return
	}
	// A call of its own in the dialog table, so that the phone's ACK, BYE
	// and re-INVITE find it; it is not a hotline call (no CDR, no queue).
	callID := leg.callID
	c := &call{s: s, log: s.log.With("call_id", callID), caller: leg}
	c.state.Started(callflow.Identity{ID: callID})
	c.ctx, c.cancel = context.WithCancelCause(s.runCtx)
	defer c.cancel(nil)
	s.register(callID, &dialogRef{call: c, leg: leg})
	s.calls.Add(1)
	defer func() {
		s.unregister(callID)
		_ = leg.srv.Close()
		_ = leg.media.Close()
		s.calls.Done()
	}()
	if err := leg.srv.RespondSDP(leg.localSDP()); err != nil {
		return
	}
	leg.media.Start()
	// Two short high beeps: "done".
	c.tone(media.NewTone([]float64{1400}, 150*time.Millisecond, 100*time.Millisecond, 0.3), 500*time.Millisecond)
	if leg.Context().Err() != nil || c.ctx.Err() != nil {
		return // the phone hung up first
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = leg.Bye(ctx)
}
