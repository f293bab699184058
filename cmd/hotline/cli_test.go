package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLine: subcommands and flags do what they say, and a word
// Hotline does not know is an error rather than ignored.
func TestCommandLine(t *testing.T) {
	example := "../../deploy/hotline.example.yaml"
	for _, tt := range []struct {
		name      string
		args      []string
		stdin     string
		code      int
		stdout    string // substring of standard output
		stderr    string // substring of standard error
		notStdout string
	}{
		{name: "version", args: []string{"version"}, stdout: "hotline dev (revision "},
		{name: "-version", args: []string{"-version"}, stdout: "hotline dev (revision "},
		{name: "version with an extra word", args: []string{"version", "now"}, code: 2, stderr: `unexpected argument "now"`},
		{name: "-check then a command", args: []string{"-check", "version"}, code: 2, stderr: `unexpected argument "version": commands come before flags`, notStdout: "configuration OK"},
		{name: "unknown word", args: []string{"frobnicate"}, code: 2, stderr: `unexpected argument "frobnicate": not a command (run, check, version, passwd, health, help`},
		{name: "-h", args: []string{"-h"}, stdout: "hotline passwd -user NAME"},
		{name: "help", args: []string{"help"}, stdout: "hotline check [-config FILE]"},
		{name: "check -h", args: []string{"check", "-h"}, stdout: "-config"},
		{name: "unknown flag", args: []string{"-frobnicate"}, code: 2, stderr: "flag provided but not defined"},
		{name: "check", args: []string{"check", "-config", example}, stderr: "configuration OK"},
		{name: "-check", args: []string{"-check", "-config", example}, stderr: "configuration OK"},
		{name: "check of a missing file", args: []string{"check", "-config", "/nonexistent/hotline.yaml"}, code: 2, stderr: "/nonexistent/hotline.yaml"},
		// printf alice:hotline:alice-secret | md5sum, | sha256sum
		{name: "passwd", args: []string{"passwd", "-user", "alice"}, stdin: "alice-secret\n", stdout: "0de6275ed397dc9ffbba8892d50ffce8\n"},
		{name: "passwd SHA-256", args: []string{"passwd", "-user", "alice", "-algorithm", "sha-256"}, stdin: "alice-secret",
			stdout: "781f97c02cdc1210c0e629753a030803b8253e561280fa591b052ae99a430c15\n"},
		{name: "passwd other realm", args: []string{"passwd", "-user", "alice", "-realm", "example.com"}, stdin: "alice-secret\n", notStdout: "0de6275ed397dc9ffbba8892d50ffce8"},
		{name: "passwd without user", args: []string{"passwd"}, stdin: "x\n", code: 2, stderr: "-user is required"},
		{name: "passwd without password", args: []string{"passwd", "-user", "alice"}, code: 2, stderr: "no password"},
		{name: "passwd with the password as argument", args: []string{"passwd", "-user", "alice", "alice-secret"}, code: 2, stderr: "standard input"},
		{name: "passwd unknown algorithm", args: []string{"passwd", "-user", "alice", "-algorithm", "SHA-1"}, stdin: "x\n", code: 2, stderr: "SHA-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, stdio{in: strings.NewReader(tt.stdin), out: &out, err: &errb})
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) ||
				(tt.notStdout != "" && strings.Contains(out.String()+errb.String(), tt.notStdout)) {
				t.Errorf("hotline %s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					strings.Join(tt.args, " "), code, out.String(), errb.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestVersionStamped: a binary built the way the Makefile builds it
// reports the stamped version.
func TestVersionStamped(t *testing.T) {
	skipShort(t)
	bin := filepath.Join(t.TempDir(), "hotline")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"-version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || !strings.HasPrefix(string(out), "hotline v9.8.7-test (revision ") {
			t.Errorf("hotline %s: %q %v, want the stamped version", args[0], out, err)
		}
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "-X main.version=") {
		t.Error("the Makefile does not stamp main.version")
	}
}

// TestHealthCommand: hotline health exits 0 on a 200 from /healthz and 1
// while the service drains (503) or does not answer.
func TestHealthCommand(t *testing.T) {
	a := startApp(t, nil)
	url := "http://" + a.api.Addr().String() + "/healthz"
	var out bytes.Buffer
	if code := run([]string{"health", "-url", url}, stdio{out: &out, err: &out}); code != 0 || !strings.Contains(out.String(), `200 {"status":"ok"}`) {
		t.Errorf("hotline health on a running Hotline: exit %d, %q", code, out.String())
	}
	a.draining.Store(true)
	out.Reset()
	if code := run([]string{"health", "-url", url}, stdio{out: &out, err: &out}); code != 1 || !strings.Contains(out.String(), "503") {
		t.Errorf("hotline health while draining: exit %d, %q; want 1", code, out.String())
	}
	out.Reset()
	if code := run([]string{"health", "-url", "http://127.0.0.1:1/healthz", "-timeout", "1s"}, stdio{out: &out, err: &out}); code != 1 {
		t.Errorf("hotline health with nothing listening: exit %d, %q; want 1", code, out.String())
	}
}
