package registrar

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
	"github.com/icholy/digest"

	"hotline/internal/cfg"
)

const (
	phoneA = "Contact: <sip:alice@127.0.0.1:5062;transport=udp>"
	phoneB = "Contact: <sip:alice@127.0.0.1:5070>"
)

func TestDigestHelperMatchesRFC7616Vectors(t *testing.T) {
	// RFC 7616 §3.9.1.
	const (
		nonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	)
	for alg, want := range map[string]string{
		"MD5":     "8ca523f5e9506fed4657c9700eebdbec",
		"SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
	} {
		got := digestResponse(alg, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html", nonce, "00000001", cnonce, "auth")
		if got != want {
			t.Errorf("%s: got %s, want %s", alg, got, want)
		}
	}
}

func TestChallengeOffersMD5ThenSHA256(t *testing.T) {
	f := newFixture(t)
	res := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 1, phoneA))
	wantStatus(t, res, 401)
	raw := headerValues(res, "WWW-Authenticate")
	chs := challenges(t, res)
	if len(chs) != 2 {
		t.Fatalf("got %d challenges, want 2: %v", len(chs), raw)
	}
	for i, alg := range []string{"MD5", "SHA-256"} {
		c := chs[i]
		if c["algorithm"] != alg || c["realm"] != "hotline" || c["nonce"] == "" || c["opaque"] == "" || c["qop"] != "auth" {
			t.Errorf("challenge %d = %q, want algorithm %s, realm hotline, nonce, opaque, qop auth", i, raw[i], alg)
		}
		if !strings.Contains(raw[i], `qop="auth"`) || strings.Contains(raw[i], "stale") {
			t.Errorf("challenge %d = %q, want quoted qop and no stale", i, raw[i])
		}
	}
	if chs[0]["nonce"] == chs[1]["nonce"] {
		t.Error("both challenges share one nonce")
	}
	again := challenges(t, serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 1, phoneA)))
	if again[0]["nonce"] == chs[0]["nonce"] {
		t.Error("second challenge reused the nonce")
	}
	if got := f.r.Lookup("alice"); len(got) != 0 {
		t.Fatalf("unauthenticated REGISTER created bindings: %+v", got)
	}
}

func TestRegisterEachAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		name string
		alg  string
		nc   int
	}{
		{"SHA-256 qop=auth", "SHA-256", 1},
		{"MD5 qop=auth", "MD5", 1},
		{"MD5 without qop", "MD5", 0},
		{"SHA-256 without qop", "SHA-256", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ch := f.challengeNow(tc.alg)
			auth := authorization(ch, creds{user: "alice", pass: "alice-secret", alg: tc.alg, nc: tc.nc}, sip.REGISTER, "sip:hotline.test")
			res := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 2, phoneA, "Expires: 600", auth))
			wantStatus(t, res, 200)
			if got, want := contacts(res), []string{"<sip:alice@127.0.0.1:5062;transport=udp>;expires=600"}; !slices.Equal(got, want) {
				t.Errorf("Contact = %q, want %q", got, want)
			}
			if got, want := headerValues(res, "Date"), []string{"Sat, 01 Mar 2025 12:00:00 GMT"}; !slices.Equal(got, want) {
				t.Errorf("Date = %q, want %q", got, want)
			}
			b := f.r.Lookup("alice")
			if len(b) != 1 {
				t.Fatalf("Lookup = %+v, want one binding", b)
			}
			want := Binding{
				Username: "alice", Source: "127.0.0.1:5062", Transport: "UDP",
				Expires: f.clock.Now().Add(600 * time.Second), CallID: "c1", CSeq: 2, UserAgent: "test-phone/1.0",
			}
			got := b[0]
			if got.Contact.String() != "sip:alice@127.0.0.1:5062;transport=udp" {
				t.Errorf("Contact = %s", got.Contact.String())
			}
			got.Contact, want.Contact = sip.Uri{}, sip.Uri{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("binding = %+v, want %+v", got, want)
			}
			if got := f.r.Registered(); !slices.Equal(got, []string{"alice"}) {
				t.Errorf("Registered = %v", got)
			}
			if got := f.drainEvents(); !slices.Equal(got, []event{{"alice", true}}) {
				t.Errorf("OnChange events = %v", got)
			}
		})
	}
}

func TestRejectedCredentials(t *testing.T) {
	for _, tc := range []struct {
		name     string
		toUser   string
		cr       creds
		wantCode int
	}{
		{"wrong password", "alice", creds{user: "alice", pass: "guess", alg: "SHA-256", nc: 1}, 403},
		{"wrong password MD5", "alice", creds{user: "alice", pass: "guess", alg: "MD5", nc: 0}, 403},
		{"unknown user", "mallory", creds{user: "mallory", pass: "x", alg: "SHA-256", nc: 1}, 403},
		{"username is not the To user", "bob", creds{user: "alice", pass: "alice-secret", alg: "SHA-256", nc: 1}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ch := f.challengeNow(tc.cr.alg)
			auth := authorization(ch, tc.cr, sip.REGISTER, "sip:hotline.test")
			res := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, tc.toUser, "c1", 2, phoneA, auth))
			wantStatus(t, res, tc.wantCode)
			if got := f.r.Registered(); len(got) != 0 {
				t.Errorf("Registered = %v after rejected REGISTER", got)
			}
		})
	}
}

func TestRealmMismatchIsChallengedAgain(t *testing.T) {
	f := newFixture(t)
	ch := f.challengeNow("MD5")
	ch["realm"] = "elsewhere"
	auth := authorization(ch, creds{user: "alice", pass: "alice-secret", alg: "MD5", nc: 1}, sip.REGISTER, "sip:hotline.test")
	res := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 2, phoneA, auth))
	wantStatus(t, res, 401)
	if n := len(challenges(t, res)); n != 2 {
		t.Fatalf("got %d challenges, want 2", n)
	}
}

func TestMalformedAuthorization(t *testing.T) {
	for _, v := range []string{
		`Digest garbage`,
		`Basic YWxpY2U6c2VjcmV0`,
		`Digest username="alice", realm="hotline"`,
		`Digest username="alice", realm="hotline", nonce="n", uri="sip:hotline.test", response="00", algorithm=SHA-512`,
		`Digest username="alice", realm="hotline", nonce="n", uri="sip:hotline.test", response="00", qop=auth-int, nc=00000001, cnonce="c"`,
		`Digest username="alice", realm="hotline", nonce="n", uri="sip:hotline.test", response="00", qop=auth`,
		`Digest username="alice", realm="hotline", nonce="n", uri="sip:hotline.test", response="00", qop=auth, nc=zz, cnonce="c"`,
	} {
		f := newFixture(t)
		res := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 2, phoneA, "Authorization: "+v))
		if res.StatusCode != 400 {
			t.Errorf("Authorization %q: got %d, want 400", v, res.StatusCode)
		}
	}
}

func TestReplayedNonceCountIsRejected(t *testing.T) {
	f := newFixture(t)
	ch := f.challengeNow("SHA-256")
	auth := authorization(ch, creds{user: "alice", pass: "alice-secret", alg: "SHA-256", nc: 1}, sip.REGISTER, "sip:hotline.test")
	wantStatus(t, serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 2, phoneA, auth)), 200)

	// The captured request, replayed (a new transaction, same credentials).
	res := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 3, phoneA, "Expires: 0", auth))
	wantStatus(t, res, 401)
	for _, c := range challenges(t, res) {
		if c["stale"] != "" || c["nonce"] == ch["nonce"] {
			t.Errorf("replay challenge %v: want a fresh, non-stale nonce", c)
		}
	}
	if len(f.r.Lookup("alice")) != 1 {
		t.Fatal("replayed un-REGISTER removed the binding")
	}

	// The same nonce with the next nc is fine (RFC 7616 §3.3).
	auth2 := authorization(ch, creds{user: "alice", pass: "alice-secret", alg: "SHA-256", nc: 2}, sip.REGISTER, "sip:hotline.test")
	wantStatus(t, serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 4, phoneA, "Expires: 0", auth2)), 200)
	if len(f.r.Lookup("alice")) != 0 {
		t.Fatal("un-REGISTER with the next nc did not remove the binding")
	}
}

func TestStaleNonce(t *testing.T) {
	f := newFixture(t)
	ch := f.challengeNow("SHA-256")
	f.clock.Advance(5*time.Minute + time.Second)
	cr := creds{user: "alice", pass: "alice-secret", alg: "SHA-256", nc: 1}

	expired := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 2, phoneA, authorization(ch, cr, sip.REGISTER, "sip:hotline.test")))
	forged := maps.Clone(ch)
	forged["nonce"] = strings.Repeat("ab", 32)
	unknown := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 3, phoneA, authorization(forged, cr, sip.REGISTER, "sip:hotline.test")))

	for name, res := range map[string]*sip.Response{"expired": expired, "unknown": unknown} {
		wantStatus(t, res, 401)
		chs := challenges(t, res)
		if len(chs) != 2 || chs[0]["stale"] != "true" || chs[1]["stale"] != "true" {
			t.Errorf("%s nonce: challenges %v, want stale=true on both", name, headerValues(res, "WWW-Authenticate"))
		}
		// The client retries with the new nonce and succeeds.
		auth := authorization(chs[0], cr, sip.REGISTER, "sip:hotline.test")
		wantStatus(t, serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c-"+name, 10, phoneA, auth)), 200)
	}
	// A wrong password with an expired nonce is still forbidden.
	f.clock.Advance(10 * time.Minute)
	bad := creds{user: "alice", pass: "guess", alg: "SHA-256", nc: 1}
	wantStatus(t, serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 20, phoneA, authorization(ch, bad, sip.REGISTER, "sip:hotline.test"))), 403)
}

func TestExpiryWithRun(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "c1", 2, phoneA, "Expires: 60"), 200)
	if got := f.drainEvents(); !slices.Equal(got, []event{{"alice", true}}) {
		t.Fatalf("events = %v", got)
	}
	f.clock.Advance(59 * time.Second)
	if len(f.r.Lookup("alice")) != 1 {
		t.Fatal("binding gone before it expired")
	}
	f.clock.Advance(time.Second)
	if got := f.r.Lookup("alice"); len(got) != 0 {
		t.Fatalf("Lookup returned expired bindings: %+v", got)
	}
	if got := f.r.Registered(); len(got) != 0 {
		t.Fatalf("Registered = %v after expiry", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case e := <-f.events:
		if e != (event{"alice", false}) {
			t.Fatalf("event = %v, want alice unregistered", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not report the expiry")
	}
}

func TestRefreshExtendsBinding(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "c1", 2, phoneA, "Expires: 300"), 200)
	f.clock.Advance(200 * time.Second)
	res := f.register("alice", "c1", 3, phoneA, "Expires: 300")
	wantStatus(t, res, 200)
	if got := contacts(res); len(got) != 1 || !strings.HasSuffix(got[0], ";expires=300") {
		t.Errorf("Contact = %q, want one binding with expires=300", got)
	}
	f.clock.Advance(200 * time.Second) // past the first expiry
	f.r.sweep()
	b := f.r.Lookup("alice")
	if len(b) != 1 || b[0].CSeq != 3 {
		t.Fatalf("Lookup = %+v, want the refreshed binding", b)
	}
	if got := f.drainEvents(); !slices.Equal(got, []event{{"alice", true}}) {
		t.Errorf("events = %v, want a single registration", got)
	}
}

func TestOutOfOrderCSeqIsNotApplied(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "c1", 10, phoneA, "Expires: 3600"), 200)
	res := f.register("alice", "c1", 5, phoneA, "Expires: 0")
	wantStatus(t, res, 200)
	if len(contacts(res)) != 1 || len(f.r.Lookup("alice")) != 1 {
		t.Fatal("an older CSeq removed the binding")
	}
	// Another Call-ID (the phone restarted) may change it regardless.
	wantStatus(t, f.register("alice", "c2", 1, phoneA, "Expires: 0"), 200)
	if len(f.r.Lookup("alice")) != 0 {
		t.Fatal("un-REGISTER from a new Call-ID was ignored")
	}
}

func TestUnregister(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "c1", 2, phoneA), 200)
	res := f.register("alice", "c1", 3, phoneA, "Expires: 0")
	wantStatus(t, res, 200)
	if got := contacts(res); len(got) != 0 {
		t.Errorf("Contact = %q after un-REGISTER", got)
	}
	if len(f.r.Lookup("alice")) != 0 || len(f.r.Registered()) != 0 {
		t.Fatal("binding still there after Expires: 0")
	}
	if got := f.drainEvents(); !slices.Equal(got, []event{{"alice", true}, {"alice", false}}) {
		t.Errorf("events = %v", got)
	}
	// Contact expires=0 overrides a non-zero Expires header.
	wantStatus(t, f.register("alice", "c1", 4, phoneA), 200)
	wantStatus(t, f.register("alice", "c1", 5, phoneA+";expires=0", "Expires: 3600"), 200)
	if len(f.r.Lookup("alice")) != 0 {
		t.Fatal("contact expires=0 did not remove the binding")
	}
}

func TestWildcardUnregister(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "c1", 2, phoneA), 200)
	wantStatus(t, f.register("alice", "c2", 2, phoneB), 200)

	for name, extra := range map[string][]string{
		"no Expires":      {"Contact: *"},
		"non-zero":        {"Contact: *", "Expires: 60"},
		"with a contact":  {"Contact: *", phoneB, "Expires: 0"},
		"in one header":   {"Contact: *, <sip:alice@127.0.0.1:5070>", "Expires: 0"},
		"contact expires": {"Contact: *;expires=0"},
	} {
		if res := f.register("alice", "c3", 2, extra...); res.StatusCode != 400 {
			t.Errorf("%s: got %d, want 400", name, res.StatusCode)
		}
	}
	if len(f.r.Lookup("alice")) != 2 {
		t.Fatal("a rejected wildcard REGISTER changed bindings")
	}
	res := f.register("alice", "c3", 2, "Contact: *", "Expires: 0")
	wantStatus(t, res, 200)
	if len(contacts(res)) != 0 || len(f.r.Lookup("alice")) != 0 {
		t.Fatal("wildcard un-REGISTER left bindings")
	}
	if got := f.drainEvents(); !slices.Equal(got, []event{{"alice", true}, {"alice", false}}) {
		t.Errorf("events = %v", got)
	}
}

func TestTwoContactsForOneUser(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "desk", 2, phoneA, "Expires: 600"), 200)
	f.clock.Advance(10 * time.Second)
	res := f.register("alice", "mobile", 2, phoneB, "Expires: 600")
	wantStatus(t, res, 200)
	want := []string{"<sip:alice@127.0.0.1:5070>;expires=600", "<sip:alice@127.0.0.1:5062;transport=udp>;expires=590"}
	if got := contacts(res); !slices.Equal(got, want) {
		t.Errorf("Contact = %q, want %q", got, want)
	}
	order := func() []string {
		var out []string
		for _, b := range f.r.Lookup("alice") {
			out = append(out, b.CallID)
		}
		return out
	}
	if got := order(); !slices.Equal(got, []string{"mobile", "desk"}) {
		t.Errorf("Lookup order = %v, want most recent first", got)
	}
	wantStatus(t, f.register("alice", "desk", 3, phoneA, "Expires: 600"), 200)
	if got := order(); !slices.Equal(got, []string{"desk", "mobile"}) {
		t.Errorf("Lookup order after refresh = %v", got)
	}
	wantStatus(t, f.register("alice", "desk", 4, phoneA, "Expires: 0"), 200)
	if got := order(); !slices.Equal(got, []string{"mobile"}) {
		t.Errorf("Lookup after removing one = %v", got)
	}
	if got := f.drainEvents(); !slices.Equal(got, []event{{"alice", true}}) {
		t.Errorf("events = %v, want alice to stay registered", got)
	}
	// Two contacts in one REGISTER.
	wantStatus(t, f.register("bob", "b1", 2, "Contact: <sip:bob@127.0.0.1:6000>, <sip:bob@127.0.0.1:6002>"), 200)
	if n := len(f.r.Lookup("bob")); n != 2 {
		t.Errorf("bob has %d bindings, want 2", n)
	}
}

func TestIntervalTooBrief(t *testing.T) {
	for name, extra := range map[string][]string{
		"header":            {phoneA, "Expires: 30"},
		"contact parameter": {phoneA + ";expires=59", "Expires: 3600"},
	} {
		f := newFixture(t)
		res := f.register("alice", "c1", 2, extra...)
		wantStatus(t, res, 423)
		if got := headerValues(res, "Min-Expires"); !slices.Equal(got, []string{"60"}) {
			t.Errorf("%s: Min-Expires = %q, want 60", name, got)
		}
		if len(f.r.Lookup("alice")) != 0 {
			t.Errorf("%s: 423 still registered", name)
		}
	}
	// The contact parameter wins over a too brief header.
	f := newFixture(t)
	res := f.register("alice", "c1", 2, phoneA+";expires=120", "Expires: 30")
	wantStatus(t, res, 200)
	if got := contacts(res); len(got) != 1 || !strings.HasSuffix(got[0], ";expires=120") {
		t.Errorf("Contact = %q, want expires=120", got)
	}
}

func TestExpiresAboveMaxIsCut(t *testing.T) {
	f := newFixture(t)
	res := f.register("alice", "c1", 2, phoneA, "Expires: 86400")
	wantStatus(t, res, 200)
	if got := contacts(res); len(got) != 1 || !strings.HasSuffix(got[0], ";expires=3600") {
		t.Errorf("Contact = %q, want expires=3600", got)
	}
	if b := f.r.Lookup("alice"); len(b) != 1 || !b[0].Expires.Equal(f.clock.Now().Add(time.Hour)) {
		t.Errorf("Lookup = %+v, want expiry in one hour", b)
	}
	// No Expires at all: DefaultExpires.
	res = f.register("bob", "c2", 2, "Contact: <sip:bob@127.0.0.1:6000>")
	if got := contacts(res); len(got) != 1 || !strings.HasSuffix(got[0], ";expires=3600") {
		t.Errorf("Contact = %q, want default expires=3600", got)
	}
}

func TestQuery(t *testing.T) {
	f := newFixture(t)
	res := f.register("alice", "c1", 2)
	wantStatus(t, res, 200)
	if len(contacts(res)) != 0 {
		t.Fatalf("query with no bindings listed %q", contacts(res))
	}
	wantStatus(t, f.register("alice", "c1", 3, phoneA), 200)
	f.clock.Advance(100 * time.Second)
	res = f.register("alice", "c1", 4)
	wantStatus(t, res, 200)
	want := []string{"<sip:alice@127.0.0.1:5062;transport=udp>;expires=3500"}
	if got := contacts(res); !slices.Equal(got, want) {
		t.Errorf("Contact = %q, want %q", got, want)
	}
	if len(f.r.Lookup("alice")) != 1 {
		t.Error("query changed bindings")
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		remove string
		extra  []string
	}{
		{name: "no To", remove: "To"},
		{name: "no From", remove: "From"},
		{name: "no Call-ID", remove: "Call-ID"},
		{name: "no CSeq", remove: "CSeq"},
		{name: "bad Expires", extra: []string{phoneA, "Expires: soon"}},
		{name: "bad contact expires", extra: []string{phoneA + ";expires=-1"}},
		{name: "tel contact", extra: []string{"Contact: <tel:+3212345678>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := f.challengeNow("MD5")
			auth := authorization(ch, creds{user: "alice", pass: "alice-secret", alg: "MD5", nc: 1}, sip.REGISTER, "sip:hotline.test")
			req := request(t, sip.REGISTER, "alice", "c1", 2, append(tc.extra, auth)...)
			tx := newRecorder(t, req)
			if tc.remove != "" {
				req.RemoveHeader(tc.remove)
			}
			f.r.HandleRegister(req, tx)
			res := tx.only(t)
			wantStatus(t, res, 400)
		})
	}
	if len(f.r.Registered()) != 0 {
		t.Fatal("a bad REGISTER registered")
	}
}

func TestAuthenticateOtherRequests(t *testing.T) {
	f := newFixture(t)
	invite := func(from string, extra ...string) *sip.Request {
		return request(t, sip.INVITE, from, "call-1", 1, extra...)
	}
	var user string
	var ok bool
	authn := func(req *sip.Request, tx sip.ServerTransaction) { user, ok = f.r.Authenticate(req, tx) }

	res := serve(t, authn, invite("alice"))
	wantStatus(t, res, 401)
	if ok {
		t.Fatal("unauthenticated INVITE accepted")
	}
	ch := challengeFor(t, res, "MD5")
	cr := creds{user: "alice", pass: "alice-secret", alg: "MD5", nc: 1}
	req := invite("alice", authorization(ch, cr, sip.INVITE, "sip:hotline.test"))
	tx := newRecorder(t, req)
	user, ok = f.r.Authenticate(req, tx)
	if !ok || user != "alice" {
		t.Fatalf("Authenticate = %q, %v; want alice, true", user, ok)
	}
	if got := tx.Result(); len(got) != 0 {
		t.Fatalf("successful Authenticate responded %d", got[0].StatusCode)
	}
	// alice's credentials in a request from bob.
	cr.nc = 2
	wantStatus(t, serve(t, authn, invite("bob", authorization(ch, cr, sip.INVITE, "sip:hotline.test"))), 403)
	// A digest computed for REGISTER does not authenticate an INVITE.
	cr.nc = 3
	wantStatus(t, serve(t, authn, invite("alice", authorization(ch, cr, sip.REGISTER, "sip:hotline.test"))), 403)
}

func TestSipgoDigestClientCode(t *testing.T) {
	// The digest package is what sipgo's client uses (DoDigestAuth).
	for i, alg := range []string{"MD5", "SHA-256"} {
		f := newFixture(t)
		req := request(t, sip.REGISTER, "alice", "c1", 1, phoneA)
		res := serve(t, f.r.HandleRegister, req)
		wantStatus(t, res, 401)
		chal, err := digest.ParseChallenge(res.GetHeaders("WWW-Authenticate")[i].Value())
		if err != nil {
			t.Fatal(err)
		}
		cred, err := digest.Digest(chal, digest.Options{
			Method: "REGISTER", URI: req.Recipient.Addr(), Username: "alice", Password: "alice-secret",
		})
		if err != nil {
			t.Fatal(err)
		}
		req2 := request(t, sip.REGISTER, "alice", "c1", 2, phoneA, "Authorization: "+cred.String())
		wantStatus(t, serve(t, f.r.HandleRegister, req2), 200)
		if cred.Algorithm != alg {
			t.Errorf("digest package answered with %s, want %s", cred.Algorithm, alg)
		}
	}
}

func TestSentinelErrors(t *testing.T) {
	f := newFixture(t)
	ch := f.challengeNow("SHA-256")
	for _, tc := range []struct {
		cr   creds
		want error
	}{
		{creds{user: "alice", pass: "x", alg: "SHA-256", nc: 1}, ErrBadCredentials},
		{creds{user: "nobody", pass: "x", alg: "SHA-256", nc: 1}, ErrUnknownUser},
	} {
		req := request(t, sip.REGISTER, tc.cr.user, "c1", 2, authorization(ch, tc.cr, sip.REGISTER, "sip:hotline.test"))
		if _, err := f.r.verify(req, tc.cr.user); !errors.Is(err, tc.want) {
			t.Errorf("verify(%s) = %v, want %v", tc.cr.user, err, tc.want)
		}
	}
}

func TestConfig(t *testing.T) {
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.Realm != "hotline" || c.DefaultExpires != time.Hour || c.MinExpires != time.Minute || c.MaxExpires != time.Hour || c.NonceTTL != 5*time.Minute {
		t.Errorf("defaults = %+v", c)
	}
	if !slices.Equal(c.Algorithms, []string{"MD5"}) {
		t.Errorf("default algorithms = %v", c.Algorithms)
	}
	bad := Config{Realm: `a"b`, DefaultExpires: 2 * time.Hour, MinExpires: time.Millisecond, MaxExpires: time.Hour, NonceTTL: time.Millisecond,
		Algorithms: []string{"MD5", "SHA-512", "MD5"}}
	var fields []string
	for _, fe := range cfg.Fields(bad.Validate()) {
		fields = append(fields, fe.Field)
	}
	slices.Sort(fields)
	if want := []string{"algorithms[1]", "algorithms[2]", "default_expires", "min_expires", "nonce_ttl", "realm"}; !slices.Equal(fields, want) {
		t.Errorf("invalid fields = %v, want %v", fields, want)
	}
}

func TestMD5OnlyConfig(t *testing.T) {
	r := New(Config{Algorithms: []string{"md5"}}, testCreds, nil, nil)
	res := serve(t, r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 1, phoneA))
	chs := challenges(t, res)
	if len(chs) != 1 || chs[0]["algorithm"] != "MD5" {
		t.Fatalf("challenges = %q, want MD5 only", headerValues(res, "WWW-Authenticate"))
	}
	sha := chs[0]
	auth := authorization(sha, creds{user: "alice", pass: "alice-secret", alg: "SHA-256", nc: 1}, sip.REGISTER, "sip:hotline.test")
	wantStatus(t, serve(t, r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 2, phoneA, auth)), 400)
	auth = authorization(sha, creds{user: "alice", pass: "alice-secret", alg: "MD5", nc: 1}, sip.REGISTER, "sip:hotline.test")
	wantStatus(t, serve(t, r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 3, phoneA, auth)), 200)
}

func TestConcurrentRegistrationsKeepEventsInOrder(t *testing.T) {
	r := New(Config{}, testCreds, nil, nil)
	var mu sync.Mutex
	events := map[string][]bool{}
	r.OnChange(func(u string, reg bool) {
		_ = r.Lookup(u) // listeners may call back in
		mu.Lock()
		events[u] = append(events[u], reg)
		mu.Unlock()
	})
	// Each worker gets its own nonce: nc must grow per nonce.
	send := func(user string, cseq uint32, nonce, callID string, extra ...string) int {
		auth := authorization(challenge{"realm": "hotline", "nonce": nonce}, creds{user: user, pass: passwords[user], alg: "MD5", nc: int(cseq)}, sip.REGISTER, "sip:hotline.test")
		req := request(t, sip.REGISTER, user, callID, cseq, append(extra, auth)...)
		tx := siptest.NewServerTxRecorder(req)
		defer tx.Terminate()
		r.HandleRegister(req, tx)
		if res := tx.Result(); len(res) == 1 {
			return res[0].StatusCode
		}
		return 0
	}
	var wg sync.WaitGroup
	for w := range 4 {
		user := []string{"alice", "bob"}[w%2]
		nonce := challengeFor(t, serve(t, r.HandleRegister, request(t, sip.REGISTER, user, "x", 1)), "MD5")["nonce"]
		wg.Add(1)
		go func() {
			defer wg.Done()
			contact := fmt.Sprintf("Contact: <sip:%s@127.0.0.1:%d>", user, 6000+w)
			callID := fmt.Sprintf("worker-%d", w)
			for i := range uint32(10) {
				if code := send(user, 2*i+1, nonce, callID, contact); code != 200 {
					t.Errorf("worker %d register: %d", w, code)
					return
				}
				if code := send(user, 2*i+2, nonce, callID, contact, "Expires: 0"); code != 200 {
					t.Errorf("worker %d unregister: %d", w, code)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := r.Registered(); len(got) != 0 {
		t.Errorf("Registered = %v, want none", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for u, ev := range events {
		for i, reg := range ev {
			if reg != (i%2 == 0) {
				t.Fatalf("%s events %v do not alternate true/false", u, ev)
			}
		}
		if len(ev) == 0 || ev[len(ev)-1] {
			t.Errorf("%s events %v, want to end unregistered", u, ev)
		}
	}
}

// TestRegisterWithHA1: an agent configured with HA1 hashes instead of a
// password registers with the right password under either algorithm and
// is refused with a wrong one, or with an algorithm it has no hash for.
func TestRegisterWithHA1(t *testing.T) {
	md5HA1, _ := HA1("MD5", "alice", "hotline", "alice-secret")
	shaHA1, _ := HA1("sha-256", "alice", "hotline", "alice-secret")
	// As printed by: printf alice:hotline:alice-secret | md5sum (sha256sum).
	if md5HA1 != "0de6275ed397dc9ffbba8892d50ffce8" || shaHA1 != "781f97c02cdc1210c0e629753a030803b8253e561280fa591b052ae99a430c15" {
		t.Fatalf("HA1 = %q, %q", md5HA1, shaHA1)
	}
	if _, err := HA1("SHA-512", "alice", "hotline", "x"); err == nil {
		t.Error("HA1 with SHA-512: no error")
	}
	for _, tc := range []struct {
		name   string
		secret Secret
		cr     creds
		want   int
	}{
		{"MD5 hash, right password", Secret{HA1MD5: md5HA1}, creds{user: "alice", pass: "alice-secret", alg: "MD5", nc: 1}, 200},
		{"SHA-256 hash, right password", Secret{HA1SHA256: strings.ToUpper(shaHA1)}, creds{user: "alice", pass: "alice-secret", alg: "SHA-256", nc: 1}, 200},
		{"both hashes, MD5 answer", Secret{HA1MD5: md5HA1, HA1SHA256: shaHA1}, creds{user: "alice", pass: "alice-secret", alg: "MD5", nc: 0}, 200},
		{"MD5 hash, wrong password", Secret{HA1MD5: md5HA1}, creds{user: "alice", pass: "guess", alg: "MD5", nc: 1}, 403},
		{"MD5 hash only, SHA-256 answer", Secret{HA1MD5: md5HA1}, creds{user: "alice", pass: "alice-secret", alg: "SHA-256", nc: 1}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.r.creds = func(u string) (Secret, bool) { return tc.secret, u == "alice" }
			ch := f.challengeNow(tc.cr.alg)
			auth := authorization(ch, tc.cr, sip.REGISTER, "sip:hotline.test")
			res := serve(t, f.r.HandleRegister, request(t, sip.REGISTER, "alice", "c1", 2, phoneA, "Expires: 600", auth))
			wantStatus(t, res, tc.want)
			if got := len(f.r.Registered()); (got == 1) != (tc.want == 200) {
				t.Errorf("Registered = %v", f.r.Registered())
			}
		})
	}
}
