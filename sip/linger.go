package sip

import (
	"context"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// defaultLinger is sip.transaction_linger's default: Kamailio's tm
// wt_timer (5 s), not RFC 3261's 64×T1 (maxLinger). At 5 s Hotline
// refused no call at 80% of S1 where 32 s refused 13-30%, with half the
// live heap (bench/README.md: "Finished transactions kept 5 s, not
// 32 s"). The cold start at twice S1 that clipped more recordings at 5 s
// lost them at the legs' close; the legs now hand their last audio to
// the recording (media.Leg.Close), and 5 s clips no more than 32 s
// (bench/README.md: "A leg's last audio").
const defaultLinger = 5 * time.Second

// maxLinger is sip.transaction_linger's most: RFC 3261's 64×T1 (T1
// 500 ms), sipgo's own value for its timers.
const maxLinger = 32 * time.Second

// applyLinger makes sipgo keep a finished transaction for d (5 s; RFC 3261:
// 64×T1; sip.transaction_linger):
//   - Timer J: a non-INVITE request answered (a BYE, a REGISTER), kept to
//     answer its retransmissions with the same response;
//   - Timer L: an INVITE answered 2xx (RFC 6026's Accepted state), kept to
//     absorb the INVITE's retransmissions and to retransmit the 2xx until
//     the ACK: a caller whose ACK has not come by then is hung up;
//   - Timers M and D: an INVITE Hotline sent (to an agent, a gateway),
//     kept to acknowledge the 2xx or final response again if it comes again.
//
// What a transaction keeps (its request and last response, parsed: the
// INVITE's and the 200's SDP among them) is most of the live heap at a
// few hundred calls a second, and marking it is most of the garbage
// collector's work.
//
// sipgo's timers are package variables, shared by every SIP server and
// client in the process: they are written only when they differ, before
// this server's transport runs, so servers started with the same setting
// never write them while another one reads them.
func applyLinger(d time.Duration) {
	for _, t := range []*time.Duration{&sip.Timer_J, &sip.Timer_L, &sip.Timer_M, &sip.Timer_D} {
		if *t != d {
			*t = d
		}
	}
}

// lateOK acknowledges again a 2xx to an INVITE Hotline sent when it comes
// after the transaction ended (Timer M, sip.transaction_linger): the
// peer retransmits its 2xx until an ACK comes (RFC 3261 §13.3.1.4, for
// 64×T1) and then hangs up, so a call whose ACKs were lost for the whole
// linger (a network or a Hotline that far behind) would be hung up by
// the agent's phone half a minute after it answered. RFC 3261 §13.2.2.4
// has the UAC core acknowledge every 2xx retransmission. Only a 2xx of
// a dialog Hotline still has and has acknowledged (confirmed) is
// acknowledged, with the same ACK; any other response that matches no
// transaction is dropped, as sipgo does, at debug level. sipgo calls it
// from the transaction layer (WithTransactionLayerUnhandledResponseHandler).
func (s *Server) lateOK(res *sip.Response) {
	cseq, cid := res.CSeq(), res.CallID()
	if !res.IsSuccess() || cseq == nil || cid == nil || cseq.MethodName != sip.INVITE {
		s.log.Debug("response matching no transaction dropped", "response", res.Short())
		return
	}
	s.mu.Lock()
	ref := s.table[cid.Value()]
	s.mu.Unlock()
	var cli *sipgo.DialogClientSession
	if ref != nil && ref.leg != nil {
		cli = ref.leg.cli // set before the Call-ID was registered
	}
	// Confirmed: the ACK went out, after InviteRequest and InviteResponse
	// were set (the state is atomic: what came before it is visible).
	if cli == nil || cli.LoadState() != sip.DialogStateConfirmed || !sameAnswer(cli, res) {
		s.log.Debug("2xx matching no transaction or confirmed dialog dropped", "response", res.Short())
		return
	}
	ctx, cancel := context.WithTimeout(s.runCtx, time.Second)
	defer cancel()
	log := s.log.With("call_id", cid.Value())
	if ref.call != nil {
		log = ref.call.log.With("leg_call_id", cid.Value())
	}
	if err := cli.Ack(ctx); err != nil {
		log.Warn("2xx retransmitted after its transaction ended: ACK not sent again", "error", err)
		return
	}
	log.Info("2xx retransmitted after its transaction ended: acknowledged again")
}

// sameAnswer reports whether res is a retransmission of the 2xx that
// answered cli's INVITE: its CSeq and its To tag.
func sameAnswer(cli *sipgo.DialogClientSession, res *sip.Response) bool {
	ir := cli.InviteResponse
	if ir == nil || ir.CSeq() == nil || ir.To() == nil || res.To() == nil || ir.CSeq().SeqNo != res.CSeq().SeqNo {
		return false
	}
	want, _ := ir.To().Params.Get("tag")
	got, _ := res.To().Params.Get("tag")
	return want != "" && want == got
}
