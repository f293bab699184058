package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/internal/cfg"
)

// TestAPIConfigValidate: every problem of the api section is reported with
// its field, and no message shows a token.
func TestAPIConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.token")
	empty := filepath.Join(dir, "empty.token")
	dup := filepath.Join(dir, "dup.token")
	for f, content := range map[string]string{good: "  file-secret-1a2b\n", empty: "\n\n", dup: "literal-secret-3c4d\n"} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tc := writeCert(t)
	other := writeCert(t)
	t.Setenv("HOTLINE_TEST_TOKEN", "env-secret-5e6f")
	t.Setenv("HOTLINE_TEST_EMPTY", "")
	secrets := []string{"file-secret-1a2b", "literal-secret-3c4d", "env-secret-5e6f", "with space-secret"}

	for _, tt := range []struct {
		name string
		c    api.Config
		want []string // field: message fragment; none: valid
	}{
		{"loopback without tokens", api.Config{}, nil},
		{"every source", api.Config{Listen: "0.0.0.0:8080", Token: "legacy-secret-7a8b", Tokens: []api.Token{
			{Name: "ops", Scope: "supervisor", TokenFile: good},
			{Name: "alice", Scope: "Agent", Agent: "alice", TokenEnv: "HOTLINE_TEST_TOKEN"},
			{Name: "dev", Scope: "supervisor", Token: "literal-secret-3c4d"},
		}}, nil},
		{"legacy token off loopback", api.Config{Listen: "10.0.0.1:8080", Token: "legacy-secret-7a8b"}, nil},
		{"off loopback without token", api.Config{Listen: "0.0.0.0:8080"}, []string{"tokens: at least one token is required"}},
		{"empty host without token", api.Config{Listen: ":8080"}, []string{"tokens: at least one token is required"}},
		{"bad listen", api.Config{Listen: "8080"}, []string{"listen: \"8080\" is not host:port"}},
		{"unknown scope", api.Config{Tokens: []api.Token{{Name: "x", Scope: "admin", Token: "literal-secret-3c4d"}}},
			[]string{`tokens[0].scope: "admin" is not one of supervisor, agent`}},
		{"no scope", api.Config{Tokens: []api.Token{{Name: "x", Token: "literal-secret-3c4d"}}}, []string{"tokens[0].scope: required"}},
		{"agent scope without agent", api.Config{Tokens: []api.Token{{Name: "x", Scope: "agent", Token: "literal-secret-3c4d"}}},
			[]string{"tokens[0].agent: required when scope is \"agent\""}},
		{"supervisor with agent", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", Agent: "bob", Token: "literal-secret-3c4d"}}},
			[]string{"tokens[0].agent: only for scope \"agent\""}},
		{"no name", api.Config{Tokens: []api.Token{{Scope: "supervisor", Token: "literal-secret-3c4d"}}}, []string{"tokens[0].name: required"}},
		{"duplicate name", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", Token: "literal-secret-3c4d"},
			{Name: "x", Scope: "supervisor", TokenFile: good}}}, []string{`tokens[1].name: "x" is already the name of tokens[0]`}},
		{"duplicate token", api.Config{Token: "env-secret-5e6f", Tokens: []api.Token{
			{Name: "a", Scope: "supervisor", Token: "literal-secret-3c4d"},
			{Name: "b", Scope: "agent", Agent: "bob", TokenFile: dup},
			{Name: "c", Scope: "supervisor", TokenEnv: "HOTLINE_TEST_TOKEN"}}},
			[]string{"tokens[1].token_file: the same token as tokens[0].token", "tokens[2].token_env: the same token as token"}},
		{"no source", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor"}}},
			[]string{"tokens[0]: exactly one of token_file, token_env or token is required, got 0"}},
		{"two sources", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", Token: "literal-secret-3c4d", TokenFile: good}}},
			[]string{"tokens[0]: exactly one of token_file, token_env or token is required, got 2"}},
		{"missing file", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", TokenFile: filepath.Join(dir, "nope")}}},
			[]string{"tokens[0].token_file: cannot read " + filepath.Join(dir, "nope") + ": no such file or directory"}},
		{"empty file", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", TokenFile: empty}}},
			[]string{"tokens[0].token_file: " + empty + " is empty"}},
		{"unset env", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", TokenEnv: "HOTLINE_TEST_UNSET_VARIABLE"}}},
			[]string{"tokens[0].token_env: environment variable HOTLINE_TEST_UNSET_VARIABLE is not set or empty"}},
		{"empty env", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", TokenEnv: "HOTLINE_TEST_EMPTY"}}},
			[]string{"tokens[0].token_env: environment variable HOTLINE_TEST_EMPTY is not set or empty"}},
		{"blank literal", api.Config{Token: "   "}, []string{"token: must not be empty"}},
		{"token with a space", api.Config{Tokens: []api.Token{{Name: "x", Scope: "supervisor", Token: "with space-secret"}}},
			[]string{"tokens[0].token: may hold only printable ASCII characters without spaces"}},
		{"tls without key", api.Config{TLS: api.TLSConfig{CertFile: tc.certFile}}, []string{"tls.key_file: required with cert_file"}},
		{"tls without cert", api.Config{TLS: api.TLSConfig{KeyFile: tc.keyFile}}, []string{"tls.cert_file: required with key_file"}},
		{"tls missing file", api.Config{TLS: api.TLSConfig{CertFile: filepath.Join(dir, "none.crt"), KeyFile: tc.keyFile}},
			[]string{"tls.cert_file: cannot read " + filepath.Join(dir, "none.crt")}},
		{"tls mismatched key", api.Config{TLS: api.TLSConfig{CertFile: tc.certFile, KeyFile: other.keyFile}},
			[]string{"tls: cannot load the certificate " + tc.certFile + " with the key " + other.keyFile}},
		{"tls ok", api.Config{TLS: api.TLSConfig{CertFile: tc.certFile, KeyFile: tc.keyFile}}, nil},
		{"download expiry", api.Config{DownloadExpiry: 48 * time.Hour}, []string{"download_expiry: must be between 1s and 24h, got 48h0m0s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.SetDefaults()
			err := c.Validate()
			var got []string
			for _, fe := range cfg.Fields(err) {
				got = append(got, fe.Error())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors:\n%s\nwant %d like:\n%s", strings.Join(got, "\n"), len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("error %d: %q, want it to start with %q", i, got[i], w)
				}
			}
			for _, s := range append(secrets, "legacy-secret-7a8b") {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("error shows the token %q: %v", s, err)
				}
			}
		})
	}
}

// TestAPISecretRedacted: a token printed, logged or marshalled by mistake
// shows as [redacted].
func TestAPISecretRedacted(t *testing.T) {
	c := api.Config{Token: "legacy-secret-7a8b", Tokens: []api.Token{{Name: "x", Scope: "supervisor", Token: "literal-secret-3c4d"}}}
	var b strings.Builder
	log := slog.New(slog.NewJSONHandler(&b, nil))
	log.Info("config", "api", c, "token", c.Token)
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c.Token, c.Token) + b.String() + string(raw)
	for _, s := range []string{"legacy-secret-7a8b", "literal-secret-3c4d"} {
		if strings.Contains(out, s) {
			t.Errorf("the token %q shows in:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("no [redacted] in:\n%s", out)
	}
}
