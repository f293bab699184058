package registrar

import (
	"slices"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestPathIsStoredAndRouted: a REGISTER that crossed the edge keeps its
// Path with the binding (two proxies, in order, in one header and in two),
// the route set of the binding gives it back as Route headers, and the
// 200 OK returns it only to a phone that said Supported: path.
func TestPathIsStoredAndRouted(t *testing.T) {
	edge := "<sip:10.0.0.1:5060;lr;received=sip:192.0.2.7:5062>"
	inner := "<sip:10.0.0.2;lr>"
	for _, tc := range []struct {
		name      string
		headers   []string
		supported bool
	}{
		{"one header, path supported", []string{"Path: " + edge + ", " + inner, "Supported: replaces, path"}, true},
		{"two headers, path not supported", []string{"Path: " + edge, "Path: " + inner}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			res := f.register("alice", "path-call", 1, append([]string{"Contact: <sip:alice@192.0.2.7:5062>", "Expires: 300"}, tc.headers...)...)
			wantStatus(t, res, 200)

			b := f.r.Lookup("alice")
			if len(b) != 1 {
				t.Fatalf("Lookup = %+v, want one binding", b)
			}
			if want := []string{edge, inner}; !slices.Equal(b[0].Path, want) {
				t.Fatalf("Path = %q, want %q", b[0].Path, want)
			}
			var route []string
			for _, h := range b[0].RouteSet() {
				if h.Name() != "Route" {
					t.Errorf("route set header %q, want Route", h.Name())
				}
				route = append(route, h.Value())
			}
			if want := []string{edge, inner}; !slices.Equal(route, want) {
				t.Errorf("RouteSet = %q, want %q", route, want)
			}
			// A request built with the route set goes to the edge.
			req := sip.NewRequest(sip.INVITE, b[0].Contact)
			for _, h := range b[0].RouteSet() {
				req.AppendHeader(h)
			}
			if got := req.Destination(); got != "10.0.0.1:5060" {
				t.Errorf("INVITE with the route set goes to %s, want the edge 10.0.0.1:5060", got)
			}

			got := headerValues(res, "Path")
			if tc.supported && !slices.Equal(got, []string{edge, inner}) {
				t.Errorf("200 OK Path = %q, want the stored Path", got)
			}
			if !tc.supported && len(got) != 0 {
				t.Errorf("200 OK Path = %q to a phone without Supported: path", got)
			}
		})
	}
}

// TestRefreshWithoutPathDropsIt: a phone that re-registers directly (not
// through the edge) is reached directly again.
func TestRefreshWithoutPathDropsIt(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "c", 1, "Contact: <sip:alice@192.0.2.7:5062>", "Path: <sip:10.0.0.1;lr>"), 200)
	wantStatus(t, f.register("alice", "c", 2, "Contact: <sip:alice@192.0.2.7:5062>"), 200)
	b := f.r.Lookup("alice")
	if len(b) != 1 || len(b[0].Path) != 0 || len(b[0].RouteSet()) != 0 {
		t.Fatalf("after a direct refresh: %+v, want no Path", b)
	}
}

// TestBadPathIsRejected: a Path that is not a SIP URI gets 400 and
// changes nothing.
func TestBadPathIsRejected(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"Path: sip:10.0.0.1;lr", "Path: <tel:+4930123>", "Path: <sip:;lr>"} {
		wantStatus(t, f.register("alice", "c", 1, "Contact: <sip:alice@192.0.2.7:5062>", p), 400)
	}
	if b := f.r.Lookup("alice"); len(b) != 0 {
		t.Fatalf("bindings after bad Paths: %+v", b)
	}
}

// TestSharedNonceSecret: with one nonce secret, a challenge from one
// registrar (node) is answered to another; without, it is not.
func TestSharedNonceSecret(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	ch := a.challengeNow("SHA-256")
	auth := authorization(ch, creds{user: "alice", pass: passwords["alice"], alg: "SHA-256", nc: 1}, sip.REGISTER, "sip:hotline.test")
	reg := func() *sip.Request {
		return request(t, sip.REGISTER, "alice", "shared-nonce", 1, "Contact: <sip:alice@192.0.2.7:5062>", auth)
	}
	if res := serve(t, b.r.HandleRegister, reg()); res.StatusCode != 401 {
		t.Fatalf("another node's nonce without a shared secret: %d, want 401", res.StatusCode)
	}
	a.r.SetNonceSecret([]byte("cluster secret"))
	b.r.SetNonceSecret([]byte("cluster secret"))
	ch = a.challengeNow("SHA-256")
	auth = authorization(ch, creds{user: "alice", pass: passwords["alice"], alg: "SHA-256", nc: 1}, sip.REGISTER, "sip:hotline.test")
	wantStatus(t, serve(t, b.r.HandleRegister, reg()), 200)
}
