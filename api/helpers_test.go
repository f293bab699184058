package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hotline/api"
	"hotline/api/wire"
	"hotline/recording"
	"hotline/routing/acd"
	"hotline/routing/config"
)

// syncBuffer collects log output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is the API's clock, which tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func newClock() *clock                   { return &clock{} }

// testCert is a self-signed certificate for 127.0.0.1.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

func writeCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "hotline api test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tc := testCert{certFile: filepath.Join(dir, "api.crt"), keyFile: filepath.Join(dir, "api.key"), pool: x509.NewCertPool()}
	if err := os.WriteFile(tc.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tc.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	tc.pool.AddCert(cert)
	return tc
}

// fixture is an API server listening on loopback with a real ACD (agents
// alice and bob, registered) and a file recording store.
type fixture struct {
	srv    *api.Server
	base   string
	client *http.Client
	logs   *syncBuffer
	acd    *acd.ACD
	clock  *clock
	recs   *recording.Manager
	recDir string
	// draining is what Deps.Draining answers.
	draining *atomic.Bool
}

// startAPI starts the API with c (Listen defaults to 127.0.0.1:0);
// tc, when not nil, is the certificate the client trusts.
func startAPI(t *testing.T, c api.Config, tc *testCert) *fixture {
	t.Helper()
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("api config: %v", err)
	}
	rc := config.Config{
		Hotlines: []config.Hotline{{Number: "1900"}},
		Agents: []config.Agent{
			{Username: "alice", Password: "alice-sip-password", Name: "Alice"},
			{Username: "bob", Password: "bob-sip-password", Name: "Bob"},
		},
	}
	rc.SetDefaults()
	if err := rc.Validate(); err != nil {
		t.Fatal(err)
	}
	queues, err := acd.New(&rc, acd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice", "bob"} {
		if err := queues.SetRegistered(a, true); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	recCfg := recording.Config{Backend: recording.BackendFile, SpoolDir: filepath.Join(dir, "spool"),
		File: recording.FileConfig{Dir: filepath.Join(dir, "recordings")}}
	recs, err := recording.New(recCfg, recording.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	clk := newClock()
	draining := &atomic.Bool{}
	srv := api.New(c, api.Deps{
		Log:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ListCalls:  func() []api.Call { return nil },
		ListAgents: func() []api.Agent { return wire.List(queues.Agents(), wire.Agent) },
		Agent: func(id string) (api.Agent, bool) {
			a, ok := queues.Agent(id)
			return wire.Agent(a), ok
		},
		ListQueues:    func() []api.Queue { return wire.List(queues.Queues(), wire.Queue) },
		ListCallbacks: func() []api.Callback { return nil },
		Agents:        queues,
		AgentError:    wire.AgentError,
		Recordings:    recs,
		Draining:      draining.Load,
		Now:           clk.now,
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, logs: logs, acd: queues, clock: clk, recs: recs, recDir: recCfg.File.Dir, draining: draining,
		client: &http.Client{Timeout: 10 * time.Second}}
	f.base = "http://" + srv.Addr().String()
	if tc != nil {
		f.base = "https://" + srv.Addr().String()
		f.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.pool}}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		_ = recs.Close()
		f.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("api log:\n%s", logs.String())
		}
	})
	return f
}

// response is what a client saw.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// jsonError is the body's "error", or "" when the body is not a JSON error.
func (r response) jsonError() string {
	var e struct {
		Error string `json:"error"`
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error
}

// do sends a request with token as bearer token ("" for none).
func (f *fixture) do(t *testing.T, method, path, token, body string) response {
	t.Helper()
	return f.doURL(t, method, f.base+path, token, body)
}

func (f *fixture) doURL(t *testing.T, method, url, token, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: res.StatusCode, header: res.Header, body: raw}
}

// putRecording stores a recording of callID made on day in the file
// store and returns its content.
func (f *fixture) putRecording(t *testing.T, callID string, day time.Time) []byte {
	t.Helper()
	data := make([]byte, 4096)
	copy(data, "RIFF")
	if _, err := rand.Read(data[4:]); err != nil {
		t.Fatal(err)
	}
	key := "recordings/" + day.UTC().Format("2006/01/02") + "/" + callID + ".wav"
	if err := f.recs.Backend().Put(context.Background(), key, strings.NewReader(string(data)), int64(len(data)), recording.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	return data
}
