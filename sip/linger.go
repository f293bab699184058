package sip

import (
	"time"

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
