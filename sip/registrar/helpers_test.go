package registrar

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
)

// passwords of the test agents.
var passwords = map[string]string{"alice": "alice-secret", "bob": "bob-secret"}

func testCreds(u string) (Secret, bool) {
	p, ok := passwords[u]
	return Secret{Password: p}, ok
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type event struct {
	user       string
	registered bool
}

type fixture struct {
	t      *testing.T
	r      *Registrar
	clock  *fakeClock
	events chan event
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	// Both algorithms, so that SHA-256 stays covered (the default is MD5 only).
	r := New(Config{Algorithms: []string{"MD5", "SHA-256"}}, testCreds, clock.Now, nil)
	f := &fixture{t: t, r: r, clock: clock, events: make(chan event, 64)}
	r.OnChange(func(u string, reg bool) { f.events <- event{u, reg} })
	return f
}

// nextEvents returns the OnChange events delivered so far.
func (f *fixture) drainEvents() []event {
	var out []event
	for {
		select {
		case e := <-f.events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// request builds a request as it would arrive from the network. extra are
// further header lines.
func request(t testing.TB, method sip.RequestMethod, user, callID string, cseq uint32, extra ...string) *sip.Request {
	t.Helper()
	lines := []string{
		fmt.Sprintf("%s sip:hotline.test SIP/2.0", method),
		"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=" + sip.GenerateBranch(),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:%s@hotline.test>;tag=ft%d", user, cseq),
		fmt.Sprintf("To: <sip:%s@hotline.test>", user),
		"Call-ID: " + callID,
		fmt.Sprintf("CSeq: %d %s", cseq, method),
		"User-Agent: test-phone/1.0",
	}
	lines = append(lines, extra...)
	lines = append(lines, "Content-Length: 0", "", "")
	msg, err := sip.ParseMessage([]byte(strings.Join(lines, "\r\n")))
	if err != nil {
		t.Fatalf("parse request: %v", err)
	}
	return msg.(*sip.Request)
}

// serve runs h on req with a recording transaction and returns the one
// response it sent.
func serve(t testing.TB, h func(*sip.Request, sip.ServerTransaction), req *sip.Request) *sip.Response {
	t.Helper()
	tx := siptest.NewServerTxRecorder(req)
	defer tx.Terminate()
	h(req, tx)
	res := tx.Result()
	if len(res) != 1 {
		t.Fatalf("got %d responses, want 1", len(res))
	}
	return res[0]
}

func headerValues(res *sip.Response, name string) []string {
	var out []string
	for _, h := range res.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

var paramRe = regexp.MustCompile(`([A-Za-z0-9-]+)=(?:"([^"]*)"|([^,\s]*))`)

// challenge is one parsed WWW-Authenticate value.
type challenge map[string]string

// challenges parses the WWW-Authenticate headers of res, in order.
func challenges(t testing.TB, res *sip.Response) []challenge {
	t.Helper()
	var out []challenge
	for _, v := range headerValues(res, "WWW-Authenticate") {
		if !strings.HasPrefix(v, "Digest ") {
			t.Fatalf("challenge %q is not Digest", v)
		}
		c := challenge{}
		for _, m := range paramRe.FindAllStringSubmatch(v[len("Digest "):], -1) {
			c[strings.ToLower(m[1])] = m[2] + m[3]
		}
		out = append(out, c)
	}
	return out
}

// challengeFor returns the challenge of res for algorithm alg.
func challengeFor(t testing.TB, res *sip.Response, alg string) challenge {
	t.Helper()
	if res.StatusCode != 401 {
		t.Fatalf("got %d %s, want 401", res.StatusCode, res.Reason)
	}
	for _, c := range challenges(t, res) {
		if c["algorithm"] == alg {
			return c
		}
	}
	t.Fatalf("no %s challenge in %v", alg, headerValues(res, "WWW-Authenticate"))
	return nil
}

// digestResponse computes a digest response per RFC 7616 §3.4.1
// (RFC 2069 style when qop is empty), independently of the registrar.
func digestResponse(alg, user, realm, pass, method, uri, nonce, nc, cnonce, qop string) string {
	h := func(s string) string {
		if alg == "SHA-256" {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		}
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	ha1 := h(user + ":" + realm + ":" + pass)
	ha2 := h(method + ":" + uri)
	if qop == "" {
		return h(ha1 + ":" + nonce + ":" + ha2)
	}
	return h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

// creds describes the Authorization header a test phone sends.
type creds struct {
	user, pass string
	alg        string // "MD5" or "SHA-256"
	nc         int    // 0 means no qop (RFC 2069 style)
}

// authorization builds an Authorization header line answering c.
func authorization(ch challenge, cr creds, method sip.RequestMethod, uri string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	cnonce := hex.EncodeToString(b[:])
	if cr.nc == 0 {
		resp := digestResponse(cr.alg, cr.user, ch["realm"], cr.pass, string(method), uri, ch["nonce"], "", "", "")
		return fmt.Sprintf(`Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, opaque="%s"`,
			cr.user, ch["realm"], ch["nonce"], uri, resp, cr.alg, ch["opaque"])
	}
	nc := fmt.Sprintf("%08x", cr.nc)
	resp := digestResponse(cr.alg, cr.user, ch["realm"], cr.pass, string(method), uri, ch["nonce"], nc, cnonce, "auth")
	return fmt.Sprintf(`Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, cnonce="%s", qop=auth, nc=%s, opaque="%s"`,
		cr.user, ch["realm"], ch["nonce"], uri, resp, cr.alg, cnonce, nc, ch["opaque"])
}

// challengeNow sends an unauthenticated REGISTER and returns the
// challenge for alg.
func (f *fixture) challengeNow(alg string) challenge {
	f.t.Helper()
	res := serve(f.t, f.r.HandleRegister, request(f.t, sip.REGISTER, "alice", "challenge-call", 1))
	return challengeFor(f.t, res, alg)
}

// register sends an authenticated REGISTER for user (password from
// passwords, SHA-256, qop=auth) after fetching a fresh challenge, and
// returns the final response. extra are header lines (Contact, Expires).
func (f *fixture) register(user, callID string, cseq uint32, extra ...string) *sip.Response {
	f.t.Helper()
	ch := f.challengeNow("SHA-256")
	auth := authorization(ch, creds{user: user, pass: passwords[user], alg: "SHA-256", nc: 1}, sip.REGISTER, "sip:hotline.test")
	return serve(f.t, f.r.HandleRegister, request(f.t, sip.REGISTER, user, callID, cseq, append(extra, auth)...))
}

func wantStatus(t testing.TB, res *sip.Response, code int) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("got %d %s, want %d\n%s", res.StatusCode, res.Reason, code, res.String())
	}
}

// contacts returns the Contact values of res.
func contacts(res *sip.Response) []string {
	return headerValues(res, "Contact")
}

type recorder struct{ *siptest.ServerTxRecorder }

func newRecorder(t testing.TB, req *sip.Request) *recorder {
	tx := siptest.NewServerTxRecorder(req)
	t.Cleanup(tx.Terminate)
	return &recorder{tx}
}

// only returns the single response sent on the transaction.
func (r *recorder) only(t testing.TB) *sip.Response {
	t.Helper()
	res := r.Result()
	if len(res) != 1 {
		t.Fatalf("got %d responses, want 1", len(res))
	}
	return res[0]
}
