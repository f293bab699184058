package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEmbeddedExampleConfigIsValid(t *testing.T) {
	c, err := loadConfig("")
	if err != nil {
		t.Fatalf("embedded example: %v", err)
	}
	if len(c.Hotlines) == 0 || len(c.Agents) == 0 {
		t.Fatalf("example has %d hotlines and %d agents", len(c.Hotlines), len(c.Agents))
	}
	// The file on disk is the one embedded.
	disk, err := loadConfig("../../deploy/hotline.example.yaml")
	if err != nil {
		t.Fatalf("deploy/hotline.example.yaml: %v", err)
	}
	if disk.SIP.Listen[0] != c.SIP.Listen[0] || disk.RTP.PortMin != c.RTP.PortMin {
		t.Fatal("embedded example differs from deploy/hotline.example.yaml")
	}
	for _, l := range c.SIP.Listen {
		if !strings.HasPrefix(l.Addr, "127.0.0.1:") {
			t.Errorf("example listens on %s, want loopback only", l.Addr)
		}
	}
}

// goWords are Go type names and YAML tags, which users do not write.
var goWords = regexp.MustCompile(`in type |!!(str|int|seq|map|bool)|\b[a-z]+\.[A-Z][A-Za-z]+\b|time\.Duration|\bint64\b`)

func TestConfigErrorsNameFileFieldAndProblem(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown field: path, suggestion, line",
			yaml: "sip:\n  listen:\n    - transport: udp\n      adr: 127.0.0.1:5060\n",
			want: []string{`bad.yaml: sip.listen[0]: unknown field "adr" (did you mean "addr"?) (line 4)`},
		},
		{
			name: "every unknown field and wrong value, in user words",
			yaml: "sipp: {}\nsip:\n  max_calls: lots\n  drain_timeout: forever\nhotlines: [{number: '1', nmae: x}]\n" +
				"agents: [{username: a, password: p, skills: {x: high}}]\nlog: [debug]\napi: {tokens: [{name: n, scope: supervisor, tokn: t}]}\n",
			want: []string{
				`bad.yaml: unknown field "sipp" (did you mean "sip"?) (line 1)`,
				`bad.yaml: sip.max_calls: "lots" is not a whole number (line 3)`,
				`bad.yaml: sip.drain_timeout: "forever" is not a duration (such as 30s, 5m or 1h30m) (line 4)`,
				`bad.yaml: hotlines[0]: unknown field "nmae" (did you mean "name"?) (line 5)`,
				`bad.yaml: agents[0].skills.x: "high" is not a whole number (line 6)`,
				`bad.yaml: log: must be a mapping (name: value), got a list (line 7)`,
				`bad.yaml: api.tokens[0]: unknown field "tokn" (did you mean "token"?) (line 8)`,
			},
		},
		{
			name: "syntax",
			yaml: "sip: [\n",
			want: []string{"bad.yaml:"},
		},
		{
			name: "semantic problems, all reported",
			yaml: `
sip:
  listen:
    - {transport: sctp, addr: 127.0.0.1:5060}
    - {transport: udp, addr: localhost}
  transaction_linger: 100ms
rtp:
  port_min: 20001
  port_max: 20000
hotlines: []
agents:
  - {username: alice}
queue:
  ring_timeout: 100ms
log:
  level: loud
`,
			want: []string{
				`bad.yaml: sip.listen[0].transport: "sctp" is not one of udp, tcp, tls`,
				`bad.yaml: sip.listen[1].addr: "localhost" is not host:port`,
				`bad.yaml: sip.transaction_linger: must be between 1s and 32s (64×T1), got 100ms`,
				`bad.yaml: rtp.port_min:`,
				`bad.yaml: hotlines: at least one hotline number is required`,
				`bad.yaml: agents[0].password: required: a password, a password_file or ha1/ha1_sha256 hashes`,
				`bad.yaml: queue.ring_timeout: must be at least 1s`,
				`bad.yaml: log.level: "loud" is not one of debug, info, warn, error`,
			},
		},
		{
			name: "tls without certificate",
			yaml: "sip:\n  listen:\n    - {transport: tls, addr: 127.0.0.1:5061}\nhotlines: [{number: '1'}]\n",
			want: []string{"bad.yaml: sip.listen[0]: tls needs cert_file and key_file"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run([]string{"-config", path, "-check"}, stdio{out: &stderr, err: &stderr})
			if code != 2 {
				t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr.String())
			}
			out := strings.ReplaceAll(stderr.String(), path, "bad.yaml")
			if goWords.MatchString(out) {
				t.Errorf("the errors speak Go (%q):\n%s", goWords.FindString(out), out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCheckFlagAcceptsExample(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-check", "-config", "../../deploy/hotline.example.yaml"}, stdio{out: &stderr, err: &stderr}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"-config", "/nonexistent/hotline.yaml"}, stdio{out: &stderr, err: &stderr}); code != 2 {
		t.Fatalf("missing file: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "/nonexistent/hotline.yaml") {
		t.Fatalf("missing file not named: %s", stderr.String())
	}
}

// TestComposeConfigIsValid: the configuration the docker-compose stack
// mounts is valid with the environment and the secret files compose
// gives it (under /run/secrets, here a temporary directory).
func TestComposeConfigIsValid(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "hotline")
	raw, err := os.ReadFile("../../deploy/compose/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	for _, name := range []string{"hotline_api_token", "minio_root_password"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(name+"-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := parseConfig("deploy/compose/hotline.yaml", []byte(strings.ReplaceAll(string(raw), "/run/secrets/", secrets+"/")))
	if err != nil {
		t.Fatalf("deploy/compose/hotline.yaml: %v", err)
	}
	if len(c.API.Tokens) == 0 || c.API.Token != "" {
		t.Error("deploy/compose/hotline.yaml: the API must use tokens from files")
	}
}
