package registrar

import (
	"strings"
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

// attemptVia is attempt through an edge proxy at source: extra headers
// (the phone's Via as the proxy received it, a Path) follow the proxy's
// own Via (127.0.0.1:5062).
func (f *fixture) attemptVia(user, pass, source string, cseq uint32, extra ...string) *sip.Response {
	f.t.Helper()
	hdrs := append([]string{"Contact: <sip:" + user + "@192.168.1.20:5062>"}, extra...)
	first := request(f.t, sip.REGISTER, user, "proxy-"+user, cseq, hdrs...)
	first.SetSource(source)
	res := serve(f.t, f.r.HandleRegister, first)
	if res.StatusCode != 401 {
		return res
	}
	ch := challengeFor(f.t, res, "MD5")
	auth := authorization(ch, creds{user: user, pass: pass, alg: "MD5", nc: 1}, sip.REGISTER, "sip:hotline.test")
	req := request(f.t, sip.REGISTER, user, "proxy-"+user, cseq, append(hdrs, auth)...)
	req.SetSource(source)
	return serve(f.t, f.r.HandleRegister, req)
}

func phoneVia(received string) string {
	return "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=" + sip.GenerateBranch() + ";received=" + received + ";rport=40001"
}

// TestTrustedProxyFailuresByPhone: every phone registers through one
// edge proxy (one source address). Without trusted_proxies, five wrong
// passwords from alice's phone block the edge's address, so bob is
// refused too. With the edge trusted, failures count by the phone's
// address the edge recorded (Via received, or the Path's received,
// which wins) and by username: bob's phone still registers, alice and
// any request from her phone's address are blocked.
func TestTrustedProxyFailuresByPhone(t *testing.T) {
	const edge = "127.0.0.1:5070"
	alicePhone, bobPhone := phoneVia("203.0.113.20"), phoneVia("203.0.113.21")

	t.Run("untrusted edge blocks everyone", func(t *testing.T) {
		f := newFixture(t)
		for i := 1; i <= 5; i++ {
			wantStatus(t, f.attemptVia("alice", "guess", edge, uint32(i), alicePhone), 403)
		}
		wantStatus(t, f.attemptVia("bob", "bob-secret", edge, 6, bobPhone), 403)
	})

	t.Run("trusted edge", func(t *testing.T) {
		clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
		c := Config{TrustedProxies: []string{"127.0.0.0/8", "10.1.2.3"}}
		if err := func() error { c.SetDefaults(); return c.Validate() }(); err != nil {
			t.Fatal(err)
		}
		f := &fixture{t: t, r: New(c, testCreds, clock.Now, nil), clock: clock, events: make(chan event, 64)}
		for i := 1; i <= 5; i++ {
			wantStatus(t, f.attemptVia("alice", "guess", edge, uint32(i), alicePhone), 403)
		}
		wantStatus(t, f.attemptVia("bob", "bob-secret", edge, 6, bobPhone), 200)
		// alice is blocked, and so is her phone's address for anyone.
		wantStatus(t, f.attemptVia("alice", "alice-secret", edge, 7, bobPhone), 403)
		wantStatus(t, f.attemptVia("bob", "bob-secret", edge, 8, alicePhone), 403)
		// The Path's received address wins over the Via.
		wantStatus(t, f.attemptVia("bob", "bob-secret", edge, 9, bobPhone,
			"Path: <sip:127.0.0.1:5070;lr;received=sip:203.0.113.20:5062>"), 403)
		wantStatus(t, f.attemptVia("bob", "bob-secret", edge, 10, alicePhone,
			"Path: <sip:127.0.0.1:5070;lr;received=sip:203.0.113.21%3A5062%3Btransport%3Dudp>"), 200)
		if st := f.r.AuthStats(); st.Failures != 5 || st.Blocks != 2 || st.BlockedNow != 2 {
			t.Fatalf("stats %+v, want 5 failures, 2 blocks (alice's phone and alice), never the edge", st)
		}
		// A phone the edge recorded no address for: by username only.
		if got := f.r.clientAddr(request(t, sip.REGISTER, "bob", "x", 1)); got != "" {
			t.Errorf("client address of a request with only the edge's Via: %q, want none", got)
		}
		// One whose recorded address is the edge's own (a phone on the
		// edge's host): by username only too.
		onEdge := request(t, sip.REGISTER, "bob", "x", 1, "Path: <sip:127.0.0.1:5070;lr;received=sip:127.0.0.1:40000>")
		onEdge.SetSource(edge)
		if got := f.r.clientAddr(onEdge); got != "" {
			t.Errorf("client address recorded as the edge's own: %q, want none", got)
		}
		direct := request(t, sip.REGISTER, "bob", "x", 1)
		direct.SetSource("198.51.100.9:5062")
		if got := f.r.clientAddr(direct); got != "198.51.100.9:5062" {
			t.Errorf("client address of a request not from the edge: %q, want its source", got)
		}
	})
}

func TestTrustedProxiesConfig(t *testing.T) {
	c := Config{TrustedProxies: []string{"10.0.0.0/8", "edge.local"}}
	c.SetDefaults()
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "trusted_proxies[1]") || !strings.Contains(err.Error(), `"edge.local"`) {
		t.Fatalf("Validate: %v, want trusted_proxies[1] named with the bad value", err)
	}
}
