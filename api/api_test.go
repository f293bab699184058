package api_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/routing/acd"
)

const (
	supToken    = "sup-file-token-9d1c7a"
	aliceToken  = "alice-env-token-55ab20"
	devToken    = "dev-literal-token-0e7f31"
	legacyToken = "legacy-token-3b2a88"
	wrongToken  = "not-a-token-77c1e4"
)

// scopedConfig has a supervisor token from a file, one for alice from the
// environment, a literal supervisor token and the legacy single token.
func scopedConfig(t *testing.T) api.Config {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ops.token")
	if err := os.WriteFile(file, []byte(supToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTLINE_TEST_ALICE_TOKEN", aliceToken)
	return api.Config{
		Token: legacyToken,
		Tokens: []api.Token{
			{Name: "ops", Scope: "supervisor", TokenFile: file},
			{Name: "alice-desk", Scope: "agent", Agent: "alice", TokenEnv: "HOTLINE_TEST_ALICE_TOKEN"},
			{Name: "dev", Scope: "supervisor", Token: devToken},
		},
	}
}

func agentState(t *testing.T, acd *acd.ACD, name string) acd.AgentState {
	t.Helper()
	a, ok := acd.Agent(name)
	if !ok {
		t.Fatalf("no agent %s", name)
	}
	return a.State
}

// TestAPIScopes: over HTTPS, requests without a valid token get 401 with a
// Bearer challenge; an agent token reads and changes only its own agent
// (and reads the queues), everything else is 403; supervisor tokens,
// from a file, a literal or the legacy single token, may do everything.
func TestAPIScopes(t *testing.T) {
	tc := writeCert(t)
	c := scopedConfig(t)
	c.TLS = api.TLSConfig{CertFile: tc.certFile, KeyFile: tc.keyFile}
	f := startAPI(t, c, &tc)

	if r := f.do(t, "GET", "/healthz", "", ""); r.code != 200 {
		t.Errorf("GET /healthz without a token: %d, want 200", r.code)
	}
	// Missing, unknown, or not a bearer token: 401 with a challenge.
	for _, tt := range []struct {
		name, header, challenge string
	}{
		{"no token", "", `Bearer realm="hotline"`},
		{"unknown token", "Bearer " + wrongToken, `Bearer realm="hotline", error="invalid_token"`},
		{"token prefix", "Bearer " + supToken[:len(supToken)-1], `Bearer realm="hotline", error="invalid_token"`},
		{"basic auth", "Basic " + supToken, `Bearer realm="hotline", error="invalid_token"`},
		{"empty bearer", "Bearer ", `Bearer realm="hotline", error="invalid_token"`},
	} {
		for _, path := range []string{"/api/v1/calls", "/api/v1/agents/alice", "/api/v1/no-such-thing", "/api/v1/download/../calls"} {
			req, _ := http.NewRequest("GET", f.base+path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			res, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e struct{ Error string }
			_ = json.NewDecoder(res.Body).Decode(&e)
			res.Body.Close()
			if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != tt.challenge || e.Error == "" {
				t.Errorf("%s, GET %s: %d WWW-Authenticate %q error %q; want 401, %q and a JSON error",
					tt.name, path, res.StatusCode, res.Header.Get("WWW-Authenticate"), e.Error, tt.challenge)
			}
		}
	}

	// The agent token: its own agent, and the queues.
	r := f.do(t, "GET", "/api/v1/agents/alice", aliceToken, "")
	var ag api.Agent
	if r.code != 200 || json.Unmarshal(r.body, &ag) != nil || ag.Username != "alice" {
		t.Errorf("alice's token, GET /api/v1/agents/alice: %d %s", r.code, r.body)
	}
	for _, step := range []struct {
		action, body string
		want         acd.AgentState
	}{
		{"login", "", acd.StateAvailable},
		{"pause", `{"reason":"lunch"}`, acd.StatePaused},
		{"unpause", "", acd.StateAvailable},
		{"logout", "", acd.StateLoggedOut},
		{"login", "", acd.StateAvailable},
	} {
		if r := f.do(t, "POST", "/api/v1/agents/alice/"+step.action, aliceToken, step.body); r.code != 200 {
			t.Errorf("alice's token, %s herself: %d %s", step.action, r.code, r.body)
		}
		if st := agentState(t, f.acd, "alice"); st != step.want {
			t.Errorf("after alice's %s: state %s, want %s", step.action, st, step.want)
		}
	}
	if r := f.do(t, "GET", "/api/v1/queues", aliceToken, ""); r.code != 200 {
		t.Errorf("alice's token, GET /api/v1/queues: %d %s", r.code, r.body)
	}
	bobBefore := agentState(t, f.acd, "bob")
	for _, req := range [][2]string{
		{"GET", "/api/v1/agents/bob"},
		{"GET", "/api/v1/agents/nobody"},
		{"POST", "/api/v1/agents/bob/login"},
		{"POST", "/api/v1/agents/bob/pause"},
		{"POST", "/api/v1/agents/bob/logout"},
		{"GET", "/api/v1/agents"},
		{"GET", "/api/v1/calls"},
		{"GET", "/api/v1/callbacks"},
		{"POST", "/api/v1/calls/some-call/recording/pause"},
		{"POST", "/api/v1/calls/some-call/recording/resume"},
		{"GET", "/api/v1/recordings/some-call"},
		{"GET", "/api/v1/recordings/backlog"},
	} {
		r := f.do(t, req[0], req[1], aliceToken, "")
		if r.code != 403 || r.jsonError() == "" || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("alice's token, %s %s: %d %q %s; want 403 with a JSON error", req[0], req[1], r.code, r.header.Get("WWW-Authenticate"), r.body)
		}
	}
	if st := agentState(t, f.acd, "bob"); st != bobBefore {
		t.Errorf("bob's state changed from %s to %s by alice's token", bobBefore, st)
	}

	// Supervisor tokens, whichever way they are configured.
	for i, tok := range []string{supToken, devToken, legacyToken} {
		for _, req := range [][2]string{
			{"GET", "/api/v1/calls"}, {"GET", "/api/v1/agents"}, {"GET", "/api/v1/agents/bob"},
			{"GET", "/api/v1/callbacks"}, {"GET", "/api/v1/queues"}, {"GET", "/api/v1/recordings/backlog"},
		} {
			if r := f.do(t, req[0], req[1], tok, ""); r.code != 200 {
				t.Errorf("supervisor token %d, %s %s: %d %s", i, req[0], req[1], r.code, r.body)
			}
		}
		action := []string{"login", "pause", "unpause"}[i]
		if r := f.do(t, "POST", "/api/v1/agents/bob/"+action, tok, ""); r.code != 200 {
			t.Errorf("supervisor token %d, %s bob: %d %s", i, action, r.code, r.body)
		}
	}
	if st := agentState(t, f.acd, "bob"); st != acd.StateAvailable {
		t.Errorf("bob after a supervisor's login, pause, unpause: %s, want available", st)
	}
	if r := f.do(t, "GET", "/api/v1/agents/nobody", supToken, ""); r.code != 404 || r.jsonError() == "" {
		t.Errorf("supervisor, GET an unknown agent: %d %s, want 404 with a JSON error", r.code, r.body)
	}
	if !strings.Contains(f.logs.String(), "by=alice-desk") {
		t.Errorf("agent state changes are not logged with the token's name:\n%s", f.logs.String())
	}
}

// TestAPITLS: with api.tls the API speaks HTTPS only, TLS 1.2 or later,
// with the configured certificate.
func TestAPITLS(t *testing.T) {
	tc := writeCert(t)
	c := scopedConfig(t)
	c.TLS = api.TLSConfig{CertFile: tc.certFile, KeyFile: tc.keyFile}
	f := startAPI(t, c, &tc)

	res, err := f.client.Get(f.base + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with the configured certificate trusted: %v", err)
	}
	res.Body.Close()
	if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 || res.StatusCode != 200 {
		t.Fatalf("HTTPS /healthz: %d, TLS %+v", res.StatusCode, res.TLS)
	}
	// TLS 1.0 and 1.1 are refused.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: tc.pool, MinVersion: v, MaxVersion: v}}}
		if res, err := old.Get(f.base + "/healthz"); err == nil {
			res.Body.Close()
			t.Errorf("a TLS %x client was served: %d", v, res.StatusCode)
		}
	}
	// Plain HTTP gets nothing from the API.
	res, err = http.Get("http://" + f.srv.Addr().String() + "/api/v1/agents")
	if err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS API: %d, want 400", res.StatusCode)
		}
	}
	if r := f.do(t, "GET", "/api/v1/agents", supToken, ""); r.code != 200 {
		t.Errorf("HTTPS with a supervisor token: %d %s", r.code, r.body)
	}
}

// TestAPILoopbackWithoutTokens: as before tokens existed, the API on
// loopback without any token configured answers everyone (plain HTTP).
func TestAPILoopbackWithoutTokens(t *testing.T) {
	f := startAPI(t, api.Config{}, nil)
	for _, p := range []string{"/api/v1/calls", "/api/v1/agents", "/api/v1/agents/alice", "/api/v1/queues"} {
		if r := f.do(t, "GET", p, "", ""); r.code != 200 {
			t.Errorf("GET %s without tokens on loopback: %d %s", p, r.code, r.body)
		}
	}
	if r := f.do(t, "POST", "/api/v1/agents/bob/login", "", ""); r.code != 200 {
		t.Errorf("POST login without tokens on loopback: %d %s", r.code, r.body)
	}
}

// TestAPIStartRefusesOffLoopbackWithoutToken: even when the configuration
// was not validated, Start does not listen off loopback without a token.
func TestAPIStartRefusesOffLoopbackWithoutToken(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		s := api.New(api.Config{Listen: listen}, api.Deps{})
		err := s.Start()
		if err == nil {
			_ = s.Shutdown(t.Context())
			t.Fatalf("Start on %s without a token succeeded", listen)
		}
		if !strings.Contains(err.Error(), "api.tokens") {
			t.Errorf("Start on %s: %v; want it to name api.tokens", listen, err)
		}
	}
	// A token file that disappeared after validation: Start fails, never
	// an API open to all.
	c := api.Config{Listen: "127.0.0.1:0", Tokens: []api.Token{{Name: "ops", Scope: "supervisor",
		TokenFile: filepath.Join(t.TempDir(), "missing")}}}
	s := api.New(c, api.Deps{})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "tokens[0].token_file") {
		if err == nil {
			_ = s.Shutdown(t.Context())
		}
		t.Errorf("Start with an unreadable token file: %v; want an error naming tokens[0].token_file", err)
	}
}

// TestAPIRecordingSignedURL: the file backend's recordings are only
// served through a signed URL that expires; the bearer-authenticated
// endpoint returns the URL, never the audio.
func TestAPIRecordingSignedURL(t *testing.T) {
	tc := writeCert(t)
	c := scopedConfig(t)
	c.TLS = api.TLSConfig{CertFile: tc.certFile, KeyFile: tc.keyFile}
	c.DownloadExpiry = 2 * time.Minute
	f := startAPI(t, c, &tc)
	day := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	callID := "a84b4c76e66710@pc33.example.com"
	want := f.putRecording(t, callID, day)

	r := f.do(t, "GET", "/api/v1/recordings/"+callID+"?date=2026-03-07", supToken, "")
	var got struct {
		CallID  string `json:"call_id"`
		Key     string `json:"key"`
		URL     string `json:"url"`
		Expires string `json:"expires"`
	}
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || json.Unmarshal(r.body, &got) != nil {
		t.Fatalf("GET /api/v1/recordings/%s: %d %s %s", callID, r.code, r.header.Get("Content-Type"), r.body)
	}
	exp, err := time.Parse(time.RFC3339, got.Expires)
	if err != nil || exp.Sub(f.clock.now()) > 2*time.Minute || exp.Sub(f.clock.now()) < time.Minute {
		t.Errorf("expires %q, want about 2 minutes from now", got.Expires)
	}
	u, err := url.Parse(got.URL)
	if err != nil || u.Scheme != "https" || u.Host != f.srv.Addr().String() || u.Query().Get("signature") == "" || u.Query().Get("expires") == "" {
		t.Fatalf("recording URL %q: want an https URL of this server with expires and signature", got.URL)
	}

	// The signed URL works without a token.
	r = f.doURL(t, "GET", got.URL, "", "")
	if r.code != 200 || string(r.body) != string(want) || r.header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("signed URL: %d %s, %d bytes (want 200, audio/wav, the %d bytes stored)", r.code, r.header.Get("Content-Type"), len(r.body), len(want))
	}
	// ... with ranges.
	req, _ := http.NewRequest("GET", got.URL, nil)
	req.Header.Set("Range", "bytes=0-3")
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent {
		t.Errorf("signed URL with a Range: %d, want 206", res.StatusCode)
	}
	// ?redirect=1 sends there.
	noFollow := *f.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ = http.NewRequest("GET", f.base+"/api/v1/recordings/"+callID+"?date=2026-03-07&redirect=1", nil)
	req.Header.Set("Authorization", "Bearer "+devToken)
	res, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc == nil || loc.Path != u.Path || loc.Query().Get("signature") == "" {
		t.Errorf("?redirect=1: %d Location %q, want 302 to a signed URL", res.StatusCode, res.Header.Get("Location"))
	}

	// Tampered, unsigned or stretched URLs are refused, token or not.
	f.putRecording(t, "other-call", day)
	q := u.Query()
	for _, tt := range []struct {
		name, url, token string
	}{
		{"no signature", "https://" + u.Host + u.Path, ""},
		{"no signature, supervisor token", "https://" + u.Host + u.Path, supToken},
		{"bad signature", withQuery(u, "signature", "AAAA"+q.Get("signature")[4:]), ""},
		{"signature not base64", withQuery(u, "signature", "%%%"), ""},
		{"later expiry", withQuery(u, "expires", "9999999999"), ""},
		{"other key", "https://" + u.Host + strings.Replace(u.Path, callID, "other-call", 1) + "?" + u.RawQuery, ""},
	} {
		r := f.doURL(t, "GET", tt.url, tt.token, "")
		if r.code != 403 || r.jsonError() == "" {
			t.Errorf("%s (%s): %d %s, want 403 with a JSON error", tt.name, tt.url, r.code, r.body)
		}
	}
	// The URL expires.
	f.clock.advance(2*time.Minute + time.Second)
	r = f.doURL(t, "GET", got.URL, "", "")
	if r.code != 403 || !strings.Contains(r.jsonError(), "expired") {
		t.Errorf("signed URL after its expiry: %d %s, want 403 expired", r.code, r.body)
	}
	// A fresh URL works; a recording removed since gets 404.
	r = f.do(t, "GET", "/api/v1/recordings/"+callID+"?date=2026-03-07", supToken, "")
	if r.code != 200 || json.Unmarshal(r.body, &got) != nil {
		t.Fatalf("GET the recording again: %d %s", r.code, r.body)
	}
	if r := f.doURL(t, "GET", got.URL, "", ""); r.code != 200 {
		t.Errorf("fresh signed URL: %d %s", r.code, r.body)
	}
	if err := os.Remove(filepath.Join(f.recDir, filepath.FromSlash(got.Key))); err != nil {
		t.Fatal(err)
	}
	if r := f.doURL(t, "GET", got.URL, "", ""); r.code != 404 || r.jsonError() == "" {
		t.Errorf("signed URL of a removed recording: %d %s, want 404", r.code, r.body)
	}
}

func withQuery(u *url.URL, k, v string) string {
	c := *u
	q := c.Query()
	q.Set(k, v)
	c.RawQuery = q.Encode()
	return c.String()
}

// TestAPISecretsNotLogged: tokens never reach the log nor any answer,
// refused ones included.
func TestAPISecretsNotLogged(t *testing.T) {
	f := startAPI(t, scopedConfig(t), nil)
	var bodies strings.Builder
	for _, tok := range []string{"", wrongToken, supToken, aliceToken, devToken, legacyToken} {
		for _, p := range []string{"/api/v1/agents", "/api/v1/agents/alice", "/api/v1/calls", "/api/v1/download/x.wav"} {
			r := f.do(t, "GET", p, tok, "")
			bodies.Write(r.body)
			bodies.WriteString(r.header.Get("WWW-Authenticate"))
		}
		r := f.do(t, "POST", "/api/v1/agents/bob/pause", tok, `{"reason":"x"}`)
		bodies.Write(r.body)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "API request refused") || !strings.Contains(logs, "API request forbidden") {
		t.Fatalf("refused requests are not logged:\n%s", logs)
	}
	for _, secret := range []string{supToken, aliceToken, devToken, legacyToken, wrongToken, "alice-sip-password", "bob-sip-password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
		if strings.Contains(bodies.String(), secret) {
			t.Errorf("an API answer holds %q", secret)
		}
	}
}
