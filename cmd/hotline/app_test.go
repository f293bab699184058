package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/internal/e2e"
	"hotline/internal/proctest"
	"hotline/sip/media"
	"hotline/sip/overload"
)

// testApp is a Hotline running inside the test process on loopback.
type testApp struct {
	*app
	cfg     *Config
	logs    *syncBuffer
	stopped sync.Once
}

// stop shuts Hotline down (once: the test's cleanup does it too).
func (a *testApp) stop(t *testing.T) {
	a.stopped.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

// syncBuffer collects log output for failure messages.
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

// startApp starts Hotline on the example configuration moved to free
// loopback ports, after mutate has changed what the test needs. It runs
// on the real clock, so customers have no quiet hours (the example's
// default is 21:00-08:00): a callback the test has dialled is dialled at
// any hour the test runs (CI once ran at 23:00 and the dialer waited for
// 08:00). A test that needs quiet hours sets them, on an injected clock
// (startAppClock).
func startApp(t *testing.T, mutate func(c *Config)) *testApp {
	t.Helper()
	return startAppClock(t, func(c *Config) {
		c.Callbacks.QuietHours = []string{}
		if mutate != nil {
			mutate(c)
		}
	}, time.Now)
}

// startAppClock is startApp with Hotline's clock replaced by now.
func startAppClock(t *testing.T, mutate func(c *Config), now func() time.Time) *testApp {
	t.Helper()
	// The SIP port is found free, then bound by start: meanwhile another
	// test's outgoing connection may take it (it lies in the kernel's
	// ephemeral range), so a bind that fails so is tried on another port.
	for attempt := 1; ; attempt++ {
		ta, err := tryStartApp(t, mutate, now)
		if err == nil {
			return ta
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			t.Fatalf("start: %v", err)
		}
		t.Logf("start: %v; on another port", err)
	}
}

// tryStartApp is one attempt of startAppClock.
func tryStartApp(t *testing.T, mutate func(c *Config), now func() time.Time) (*testApp, error) {
	t.Helper()
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	port := freeSIPPort(t)
	for i := range c.SIP.Listen {
		c.SIP.Listen[i].Addr = net.JoinHostPort("127.0.0.1", port)
	}
	// An RTP range of its own per test, away from the kernel's ephemeral
	// ports (32768+) that SIPp and baresip use.
	c.RTP.PortMin, c.RTP.PortMax = proctest.FreeUDPRange(t, 1000)
	c.Log.Level = "debug"
	c.API.Listen = "127.0.0.1:0"
	c.Metrics.Listen = "127.0.0.1:0"
	dir := t.TempDir()
	c.Recording.SpoolDir = filepath.Join(dir, "spool")
	c.Recording.File.Dir = filepath.Join(dir, "recordings")
	c.Records.SpoolDir = filepath.Join(dir, "records-spool")
	c.Records.File.Dir = filepath.Join(dir, "records")
	c.Records.StateDir = filepath.Join(dir, "state")
	// The example keeps style answers and callbacks in data/; tests keep
	// them in memory unless they set a file (restart_e2e_test.go).
	c.Directory.StateFile, c.Callbacks.File = "", ""
	// The example asks first-time callers their service style by keypad;
	// tests whose callers press no keys go straight to the queue
	// (ivr_e2e_test.go turns it on).
	c.IVR.StyleQuestion = false
	// The test machine is shared and busy: its load is not this Hotline's,
	// so the signals it would shed test calls on (scheduling lag, socket
	// backlog, CPU, recorder drops) are off; overload_e2e_test.go drives
	// overload control on purpose (pressure file).
	testMachineLoadOff(&c.SIP.Overload)
	// HOTLINE_TEST_RTP_KERNEL=off runs every end-to-end test with the
	// user-space relay only (on: the in-kernel relay, or fail); unset, the
	// example's default (auto). kernel_e2e_test.go sets it for itself.
	if m := os.Getenv("HOTLINE_TEST_RTP_KERNEL"); m != "" {
		c.RTP.Kernel = media.KernelMode(m)
	}
	if mutate != nil {
		mutate(c)
	}
	logs := &syncBuffer{}
	log := c.Log.logger(logs)
	a, err := start(context.Background(), c, log, now)
	if err != nil {
		return nil, err
	}
	ta := &testApp{app: a, cfg: c, logs: logs}
	t.Cleanup(func() {
		ta.stop(t)
		if t.Failed() {
			t.Logf("hotline log:\n%s", tail(logs.String(), 120))
		}
	})
	return ta, nil
}

// freeSIPPort finds a port free for both UDP and TCP on 127.0.0.1.
func freeSIPPort(t *testing.T) string {
	t.Helper()
	return strconv.Itoa(e2e.FreeUDPTCPPort(t))
}

func params(k, v string) sip.HeaderParams {
	p := sip.NewParams()
	p.Add(k, v)
	return p
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func (a *testApp) sipAddr(transport string) string {
	return a.sip.Addr(transport).String()
}

// writeSelfSigned writes a certificate and key for 127.0.0.1.
func writeSelfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hotline test"},
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
	certFile, keyFile = filepath.Join(dir, "sip.crt"), filepath.Join(dir, "sip.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLSRegisterAndOptions: with certificates configured, a softphone
// reaches Hotline over TLS, registers with digest auth and gets OPTIONS
// answered.
func TestTLSRegisterAndOptions(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t)
	a := startApp(t, func(c *Config) {
		c.SIP.Listen = append(c.SIP.Listen, c.SIP.Listen[0])
		c.SIP.Listen[len(c.SIP.Listen)-1].Transport = "tls"
		c.SIP.Listen[len(c.SIP.Listen)-1].Addr = "127.0.0.1:0"
		c.SIP.Listen[len(c.SIP.Listen)-1].CertFile = certFile
		c.SIP.Listen[len(c.SIP.Listen)-1].KeyFile = keyFile
	})
	addr := a.sipAddr("tls")
	host, port, _ := net.SplitHostPort(addr)

	ua, err := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: true}), sipgo.WithUserAgent("tls-phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	p, _ := strconv.Atoi(port)
	opts := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host, Port: p, UriParams: params("transport", "tls")})
	opts.SetTransport("TLS")
	res, err := client.Do(ctx, opts)
	if err != nil {
		t.Fatalf("OPTIONS over TLS: %v", err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS over TLS: %d %s", res.StatusCode, res.Reason)
	}

	reg := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: p, UriParams: params("transport", "tls")})
	reg.SetTransport("TLS")
	reg.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: host}})
	reg.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: host}, Params: params("tag", sip.GenerateTagN(8))})
	reg.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5999, UriParams: params("transport", "tls")}})
	reg.AppendHeader(sip.NewHeader("Expires", "600"))
	res, err = client.Do(ctx, reg)
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	if res.StatusCode != 401 {
		t.Fatalf("unauthenticated REGISTER got %d, want 401", res.StatusCode)
	}
	res, err = client.DoDigestAuth(ctx, reg, res, sipgo.DigestAuth{Username: "alice", Password: "alice-secret"})
	if err != nil {
		t.Fatalf("REGISTER with digest: %v", err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER with digest got %d %s", res.StatusCode, res.Reason)
	}
	b := a.sip.Registrar().Lookup("alice")
	if len(b) != 1 || !strings.EqualFold(b[0].Transport, "TLS") {
		t.Fatalf("bindings after TLS REGISTER: %+v", b)
	}
}

// testMachineLoadOff turns off the overload signals that follow the test
// machine's load rather than Hotline's: scheduling lag and CPU, and also
// the SIP socket backlog and recorder drops, which grow when Hotline's
// goroutines wait for a core another process holds (a caller once got
// 503 in TestE2EAttendedTransferSIPp on a busy machine), and calls being
// set up at once (setups are slow under -race), and the wait of SIP
// datagrams in its sockets and of RTP packets in the relay's ring, which
// count whoever holds the cores (and the doors' refusals for those
// queues). Only what a test sets on purpose (the pressure file, a
// threshold of its own) can make a test Hotline shed.
func testMachineLoadOff(o *overload.Config) {
	o.SchedulingLag, o.SocketBacklog, o.CPU, o.RecorderDrops, o.MaxSetups, o.SocketDelay = -1, -1, -1, -1, -1, -1
	o.RTPDelay, o.QueueRefused = -1, -1
}

// processOverloadOff is the sip.overload setting of test processes
// (startProcess), for the same reason as testMachineLoadOff.
const processOverloadOff = "\nsip:\n  overload: {scheduling_lag: -1ms, socket_backlog: -1, cpu: -1, recorder_drops: -1, max_setups: -1, rtp_delay: -1ms, queue_refused: -1, socket_delay: -1ms}\n"
