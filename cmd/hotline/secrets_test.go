package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hotline/sip/registrar"
)

// TestAgentSecretsHA1AndFile: an agent configured with only the HA1 that
// hotline passwd prints, and one whose password is in a file, register
// with their passwords; a wrong password is refused.
func TestAgentSecretsHA1AndFile(t *testing.T) {
	skipShort(t)
	var out bytes.Buffer
	if code := run([]string{"passwd", "-user", "alice"}, stdio{in: strings.NewReader("alice-hashed\n"), out: &out, err: &out}); code != 0 {
		t.Fatalf("hotline passwd: %d %s", code, out.String())
	}
	ha1 := strings.TrimSpace(out.String())
	file := filepath.Join(t.TempDir(), "bob.password")
	if err := os.WriteFile(file, []byte("bob-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, func(c *Config) {
		for i := range c.Agents {
			switch c.Agents[i].Username {
			case "alice":
				c.Agents[i].Password, c.Agents[i].HA1 = "", ha1
			case "bob":
				c.Agents[i].Password, c.Agents[i].PasswordFile = "", file
			}
		}
		if err := c.Config.Validate(); err != nil { // reads the file
			t.Fatal(err)
		}
	})
	for _, tt := range []struct {
		user, password string
		want           int
	}{
		{"alice", "alice-hashed", 200},
		{"alice", ha1, 403},
		{"bob", "bob-from-file", 200},
		{"bob", "bob-secret", 403},
	} {
		if got := register(t, a, tt.user, tt.password); got != tt.want {
			t.Errorf("REGISTER %s with %q: %d, want %d", tt.user, tt.password, got, tt.want)
		}
	}
	if logs := a.logs.String(); strings.Contains(logs, "bob-from-file") || strings.Contains(logs, ha1) {
		t.Error("a secret reached the log")
	}
}

// TestAgentSecretErrors: secrets that cannot work are configuration
// errors naming the field, never the secret.
func TestAgentSecretErrors(t *testing.T) {
	md5, _ := registrar.HA1("MD5", "alice", "hotline", "pw")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, agent, extra, want string
	}{
		{"two secrets", "{username: alice, password: pw, ha1: " + md5 + "}", "", "agents[0].password: only one of password, password_file or ha1/ha1_sha256 may be set"},
		{"missing file", "{username: alice, password_file: /nonexistent/pw}", "", "agents[0].password_file: cannot read /nonexistent/pw: no such file or directory"},
		{"empty file", "{username: alice, password_file: " + empty + "}", "", "agents[0].password_file: " + empty + " is empty"},
		{"not hex", "{username: alice, ha1: 0de6275ed397dc9ffbba8892d50ffcXX}", "", "agents[0].ha1: must be 32 hexadecimal digits"},
		{"SHA-256 challenged without its hash", "{username: alice, ha1: " + md5 + "}",
			"sip: {registrar: {algorithms: [SHA-256, MD5]}}\n", "agents[0].ha1_sha256: required: sip.registrar.algorithms has SHA-256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("h.yaml", []byte(tt.extra+"hotlines: [{number: '1900'}]\nagents: ["+tt.agent+"]\n"))
			if err == nil || !strings.Contains(err.Error(), "h.yaml: "+tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), md5) {
				t.Errorf("the error shows the hash: %v", err)
			}
		})
	}
}
