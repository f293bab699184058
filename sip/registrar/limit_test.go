package registrar

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// attempt answers a fresh challenge for user with pass, from source.
func (f *fixture) attempt(user, pass, source string, cseq uint32) *sip.Response {
	f.t.Helper()
	first := request(f.t, sip.REGISTER, user, "limit-"+user, cseq, "Contact: <sip:"+user+"@127.0.0.1:5062>")
	first.SetSource(source)
	res := serve(f.t, f.r.HandleRegister, first)
	if res.StatusCode != 401 {
		return res // blocked: not even challenged
	}
	ch := challengeFor(f.t, res, "MD5")
	auth := authorization(ch, creds{user: user, pass: pass, alg: "MD5", nc: 1}, sip.REGISTER, "sip:hotline.test")
	req := request(f.t, sip.REGISTER, user, "limit-"+user, cseq, "Contact: <sip:"+user+"@127.0.0.1:5062>", auth)
	req.SetSource(source)
	return serve(f.t, f.r.HandleRegister, req)
}

// TestRepeatedFailuresBlock: after 5 wrong passwords the address and the
// username are blocked for a while (403 with Retry-After, even with the
// right password); other users from other addresses are not; the block
// ends by itself.
func TestRepeatedFailuresBlock(t *testing.T) {
	f := newFixture(t)
	for i := 1; i <= 5; i++ {
		wantStatus(t, f.attempt("alice", "guess", "127.0.0.2:5062", uint32(i)), 403)
	}
	res := f.attempt("alice", "alice-secret", "127.0.0.2:5062", 6)
	wantStatus(t, res, 403)
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "301" {
		t.Fatalf("blocked response Retry-After = %v, want 301 (5 min)", h)
	}
	// The username is blocked from anywhere.
	wantStatus(t, f.attempt("alice", "alice-secret", "127.0.0.3:5062", 7), 403)
	// Another user from another address is not.
	wantStatus(t, f.attempt("bob", "bob-secret", "127.0.0.3:5062", 8), 200)
	// bob from the blocked address is.
	wantStatus(t, f.attempt("bob", "bob-secret", "127.0.0.2:5062", 9), 403)
	st := f.r.AuthStats()
	if st.Failures != 5 || st.Blocks != 2 || st.BlockedNow != 2 {
		t.Fatalf("stats %+v, want 5 failures, 2 blocks (address and user), 2 blocked now", st)
	}
	f.clock.Advance(5 * time.Minute)
	wantStatus(t, f.attempt("alice", "alice-secret", "127.0.0.2:5062", 10), 200)
	if st := f.r.AuthStats(); st.BlockedNow != 0 {
		t.Fatalf("still blocked after the block time: %+v", st)
	}
}

// TestFailuresOutsideWindowDoNotBlock: failures spread wider than the
// window never add up to a block.
func TestFailuresOutsideWindowDoNotBlock(t *testing.T) {
	f := newFixture(t)
	for i := 1; i <= 8; i++ {
		wantStatus(t, f.attempt("alice", "guess", "127.0.0.2:5062", uint32(i)), 403)
		f.clock.Advance(20 * time.Second)
	}
	wantStatus(t, f.attempt("alice", "alice-secret", "127.0.0.2:5062", 20), 200)
}
