package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/api"
	"hotline/deploy"
	"hotline/internal/miniotest"
)

// withAPISection is the embedded example with its api section replaced
// by section (top-level YAML, starting "api:").
func withAPISection(t *testing.T, section string) []byte {
	t.Helper()
	var out []string
	skipping := false
	for _, line := range strings.Split(string(deploy.ExampleConfig()), "\n") {
		if line == "api:" {
			skipping = true
			continue
		}
		if skipping && line != "" && line[0] != ' ' && line[0] != '#' {
			skipping = false
		}
		if !skipping {
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, "\n") + "\n" + section + "\n")
}

// TestAPIConfigTokensAndTLS: the api section's tokens and TLS are checked
// when the file is loaded; each error names the file and the field, and
// none shows a secret.
func TestAPIConfigTokensAndTLS(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "ops.token")
	if err := os.WriteFile(tokFile, []byte("ops-file-secret-81f2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTLINE_TEST_ALICE_TOKEN", "alice-env-secret-19c3")
	certFile, keyFile := writeSelfSigned(t)

	good := withAPISection(t, `api:
  listen: 0.0.0.0:8443
  tls: {cert_file: `+certFile+`, key_file: `+keyFile+`}
  tokens:
    - {name: ops, scope: supervisor, token_file: `+tokFile+`}
    - {name: alice, scope: agent, agent: alice, token_env: HOTLINE_TEST_ALICE_TOKEN}
    - {name: dev, scope: supervisor, token: dev-literal-secret-7d0e}`)
	c, err := parseConfig("hotline.yaml", good)
	if err != nil {
		t.Fatalf("valid api section: %v", err)
	}
	if len(c.API.Tokens) != 3 || c.API.Tokens[1].Agent != "alice" || c.API.TLS.CertFile != certFile {
		t.Errorf("api section read as %+v", c.API)
	}
	// The single token of earlier versions still loads.
	if _, err := parseConfig("hotline.yaml", withAPISection(t, "api:\n  listen: 0.0.0.0:8080\n  token: legacy-secret-2b7c")); err != nil {
		t.Errorf("api.token only: %v", err)
	}

	secrets := []string{"ops-file-secret-81f2", "alice-env-secret-19c3", "dev-literal-secret-7d0e", "dup-secret-55aa", "bad secret 66bb",
		"alice-secret", "bob-secret", "s3-secret-in-config-0f0f"}
	bad := withAPISection(t, `api:
  listen: 0.0.0.0:8080
  tls: {cert_file: `+certFile+`}
  tokens:
    - {name: ops, scope: root, token: dup-secret-55aa}
    - {name: dave, scope: agent, agent: dave, token: dup-secret-55aa}
    - {name: eve, scope: agent, token_file: `+filepath.Join(dir, "missing")+`}
    - {name: sp, scope: supervisor, token: "bad secret 66bb"}
    - {name: none, scope: supervisor}`)
	// Secrets elsewhere in a broken file are not shown either.
	bad = bytes.Replace(bad, []byte("recording:\n"), []byte("recording:\n  s3: {secret_key: s3-secret-in-config-0f0f}\n"), 1)
	bad = bytes.Replace(bad, []byte("  - username: bob\n"), []byte("  - username: alice\n"), 1)
	_, err = parseConfig("hotline.yaml", bad)
	if err == nil {
		t.Fatal("broken api section accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`hotline.yaml: api.tokens[0].scope: "root" is not one of supervisor, agent`,
		"hotline.yaml: api.tokens[1].token: the same token as tokens[0].token",
		`hotline.yaml: api.tokens[1].agent: "dave" is not the username of a configured agent`,
		`hotline.yaml: api.tokens[2].agent: required when scope is "agent"`,
		"hotline.yaml: api.tokens[2].token_file: cannot read " + filepath.Join(dir, "missing"),
		"hotline.yaml: api.tokens[3].token: may hold only printable ASCII characters without spaces",
		"hotline.yaml: api.tokens[4]: exactly one of token_file, token_env or token is required",
		"hotline.yaml: api.tls.key_file: required with cert_file",
		"hotline.yaml: agents[1].username",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("configuration errors show the secret %q:\n%s", s, msg)
		}
	}

	// hotline -check refuses an API off loopback without a token.
	path := filepath.Join(dir, "open.yaml")
	if err := os.WriteFile(path, withAPISection(t, "api:\n  listen: 0.0.0.0:8080"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run([]string{"-check", "-config", path}, stdio{out: &stderr, err: &stderr}); code != 2 ||
		!strings.Contains(stderr.String(), path+": api.tokens: at least one token is required when listen (0.0.0.0:8080) is not a loopback address") {
		t.Errorf("hotline -check with an open API: exit %d\n%s", code, stderr.String())
	}
}

// apiClient calls a running app's API.
type apiClient struct {
	t      *testing.T
	base   string
	client *http.Client
	seen   strings.Builder // every answer, to look for secrets in
}

func (c *apiClient) do(method, path, token, body string) (int, []byte) {
	c.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for k, v := range res.Header {
		c.seen.WriteString(k + ": " + strings.Join(v, ",") + "\n")
	}
	c.seen.Write(raw)
	return res.StatusCode, raw
}

// TestAPITLSAppSignedRecordingURL: Hotline serves its API over HTTPS with
// the configured certificate; a recording of the file backend is handed
// out as a signed https URL that expires.
func TestAPITLSAppSignedRecordingURL(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	a := startAppClock(t, func(c *Config) {
		c.API.TLS = api.TLSConfig{CertFile: certFile, KeyFile: keyFile}
		c.API.Tokens = []api.Token{{Name: "ops", Scope: api.ScopeSupervisor, Token: "ops-literal-token-4411"}}
	}, now)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	c := &apiClient{t: t, base: "https://" + a.api.Addr().String(),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	defer c.client.CloseIdleConnections()

	if code, body := c.do("GET", "/api/v1/agents", "ops-literal-token-4411", ""); code != 200 {
		t.Fatalf("HTTPS GET /api/v1/agents: %d %s", code, body)
	}
	if code, _ := c.do("GET", "/api/v1/agents", "", ""); code != 401 {
		t.Errorf("HTTPS GET /api/v1/agents without a token: %d, want 401", code)
	}
	if res, err := http.Get("http://" + a.api.Addr().String() + "/api/v1/agents"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS API: %d, want 400", res.StatusCode)
		}
	}

	// A recording in the file store, as the uploader leaves it.
	key := "recordings/" + now().UTC().Format("2006/01/02") + "/tls-call-1.wav"
	p := filepath.Join(a.cfg.Recording.File.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	wav := []byte("RIFF....WAVEfmt recording bytes")
	if err := os.WriteFile(p, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := c.do("GET", "/api/v1/recordings/tls-call-1", "ops-literal-token-4411", "")
	var got struct{ URL, Key, Expires string }
	if code != 200 || json.Unmarshal(body, &got) != nil || got.Key != key {
		t.Fatalf("GET /api/v1/recordings/tls-call-1: %d %s", code, body)
	}
	u, err := url.Parse(got.URL)
	if err != nil || u.Scheme != "https" || u.Query().Get("signature") == "" {
		t.Fatalf("recording URL %q, want a signed https URL", got.URL)
	}
	if code, body := c.do("GET", got.URL, "", ""); code != 200 || !bytes.Equal(body, wav) {
		t.Errorf("signed URL: %d %q, want the recording", code, body)
	}
	offset.Store(int64(a.cfg.API.DownloadExpiry + time.Second))
	if code, body := c.do("GET", got.URL, "", ""); code != 403 || !strings.Contains(string(body), "expired") {
		t.Errorf("signed URL after api.download_expiry: %d %s, want 403 expired", code, body)
	}
}

// TestAPISecretsNeverLogged: with known API tokens, agent passwords and
// S3 secret keys, Hotline at debug level logs none of them, nor shows
// them in API answers, through successful and failed API requests, SIP
// registrations with right and wrong passwords, and S3 requests refused
// for a wrong secret key or signed with the right one.
func TestAPISecretsNeverLogged(t *testing.T) {
	m := miniotest.Start(t)
	dir := t.TempDir()
	opsFile := filepath.Join(dir, "ops.token")
	const (
		opsToken    = "ops-token-from-file-a1b2c3"
		aliceToken  = "alice-token-from-env-d4e5f6"
		devToken    = "dev-token-literal-0718aa"
		legacyToken = "legacy-single-token-93bc"
		alicePass   = "alice-sip-pass-5c6d7e"
		bobPass     = "bob-sip-pass-8f9a0b"
		wrongS3     = "s3-wrong-secret-key-c1d2e3"
		wrongPass   = "wrong-sip-pass-f4a5b6"
	)
	if err := os.WriteFile(opsFile, []byte(opsToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTLINE_TEST_ALICE_TOKEN", aliceToken)
	secrets := []string{opsToken, aliceToken, devToken, legacyToken, alicePass, bobPass, wrongS3, wrongPass, miniotest.SecretKey}

	for _, tt := range []struct {
		name, format, s3Secret string
	}{
		{"wrong S3 secret, JSON logs", "json", wrongS3},
		{"right S3 secret, text logs", "text", miniotest.SecretKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := startApp(t, func(c *Config) {
				useMinIO(c, m)
				// A recording a crash left in the spool: uploaded at start.
				spoolRecording(t, c.Recording.SpoolDir, "20260307T100000Z-secret-test-call-0000abcd.wav")
				c.Recording.S3.SecretKey = tt.s3Secret
				c.Log.Format = tt.format
				c.Agents[0].Password = alicePass
				c.Agents[1].Password = bobPass
				c.API.Token = legacyToken
				c.API.Tokens = []api.Token{
					{Name: "ops", Scope: api.ScopeSupervisor, TokenFile: opsFile},
					{Name: "alice-desk", Scope: api.ScopeAgent, Agent: c.Agents[0].Username, TokenEnv: "HOTLINE_TEST_ALICE_TOKEN"},
					{Name: "dev", Scope: api.ScopeSupervisor, Token: devToken},
				}
			})
			alice, bob := a.cfg.Agents[0].Username, a.cfg.Agents[1].Username
			c := &apiClient{t: t, base: "http://" + a.api.Addr().String(), client: &http.Client{Timeout: 20 * time.Second}}

			// SIP registrations, with the right and a wrong password.
			if code := register(t, a, alice, alicePass); code != 200 {
				t.Errorf("REGISTER %s with the right password: %d", alice, code)
			}
			if code := register(t, a, bob, wrongPass); code == 200 {
				t.Errorf("REGISTER %s with a wrong password: %d", bob, code)
			}

			// The spooled recording is uploaded, or refused by the store.
			callID := "secret-test-call"
			recPath := "/api/v1/recordings/" + callID + "?date=2026-03-07"
			if tt.s3Secret == miniotest.SecretKey {
				waitFor(t, 20*time.Second, "the spooled recording to be uploaded", func() bool {
					code, _ := c.do("GET", recPath, devToken, "")
					return code == 200
				})
			} else {
				waitFor(t, 20*time.Second, "the refused S3 request to be logged", func() bool {
					return strings.Contains(a.logs.String(), "s3 access denied")
				})
			}

			for _, tok := range []string{"", "not-a-token", wrongPass, opsToken, aliceToken, devToken, legacyToken} {
				for _, req := range [][2]string{
					{"GET", "/api/v1/agents"}, {"GET", "/api/v1/agents/" + alice}, {"GET", "/api/v1/agents/" + bob},
					{"GET", "/api/v1/calls"}, {"GET", "/api/v1/queues"}, {"GET", "/api/v1/recordings/backlog"},
					{"GET", recPath}, {"POST", "/api/v1/agents/" + alice + "/pause"},
					{"POST", "/api/v1/agents/" + bob + "/login"}, {"GET", "/api/v1/download/x.wav?expires=1&signature=AA"},
				} {
					c.do(req[0], req[1], tok, "")
				}
			}
			if code, _ := c.do("GET", "/api/v1/agents", opsToken, ""); code != 200 {
				t.Errorf("supervisor token from a file: %d", code)
			}
			if code, _ := c.do("GET", "/api/v1/agents", aliceToken, ""); code != 403 {
				t.Errorf("agent token listing every agent: %d, want 403", code)
			}
			if code, _ := c.do("GET", "/api/v1/agents", "not-a-token", ""); code != 401 {
				t.Errorf("unknown token: %d, want 401", code)
			}
			code, body := c.do("GET", recPath, devToken, "")
			if tt.s3Secret == miniotest.SecretKey {
				var got struct{ URL string }
				if code != 200 || json.Unmarshal(body, &got) != nil {
					t.Fatalf("GET the recording: %d %s", code, body)
				}
				// The pre-signed URL works, and shows no secret either.
				if code, _ := c.do("GET", got.URL, "", ""); code != 200 {
					t.Errorf("pre-signed URL: %d", code)
				}
			} else if code != http.StatusBadGateway {
				t.Errorf("GET a recording with the store refusing our key: %d %s, want 502", code, body)
			}

			logs := a.logs.String()
			for _, want := range []string{"API request refused", "API request forbidden", "authentication failed"} {
				if !strings.Contains(logs, want) {
					t.Errorf("the log lacks %q", want)
				}
			}
			for _, s := range secrets {
				if strings.Contains(logs, s) {
					i := strings.Index(logs, s)
					t.Errorf("the log shows the secret %q: ...%s...", s, logs[max(0, i-200):min(len(logs), i+100)])
				}
				if strings.Contains(c.seen.String(), s) {
					t.Errorf("an API answer shows the secret %q", s)
				}
			}
		})
	}
}

// spoolRecording leaves a short stereo PCM WAV in the spool directory, as
// a crash would.
func spoolRecording(t *testing.T, dir, name string) {
	t.Helper()
	const frames, rate, channels = 800, 8000, 2
	data := make([]byte, frames*channels*2)
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], channels)
	binary.LittleEndian.PutUint32(h[24:], rate)
	binary.LittleEndian.PutUint32(h[28:], rate*channels*2)
	binary.LittleEndian.PutUint16(h[32:], channels*2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), append(h, data...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// register sends a REGISTER over TCP for user with password and returns
// the final status.
func register(t *testing.T, a *testApp, user, password string) int {
	t.Helper()
	host, port, _ := net.SplitHostPort(a.sipAddr("tcp"))
	p, _ := strconv.Atoi(port)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("secret-test-phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: p, UriParams: params("transport", "tcp")})
	reg.SetTransport("TCP")
	reg.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}})
	reg.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}, Params: params("tag", sip.GenerateTagN(8))})
	reg.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: 5998, UriParams: params("transport", "tcp")}})
	reg.AppendHeader(sip.NewHeader("Expires", "600"))
	res, err := client.Do(ctx, reg)
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	if res.StatusCode != 401 {
		return res.StatusCode
	}
	res, err = client.DoDigestAuth(ctx, reg, res, sipgo.DigestAuth{Username: user, Password: password})
	if err != nil {
		t.Fatalf("REGISTER with digest: %v", err)
	}
	return res.StatusCode
}
