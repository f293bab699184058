package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/sip/registrar"
)

// reloadConfig is a process configuration: SIP on addr, RTP from rtpMin,
// the given hotline numbers, agents, queues and rules (YAML flow items).
func reloadConfig(addr, dir string, rtpMin int, hotlines, agents, queues, rules string) string {
	return fmt.Sprintf(`
sip:
  listen:
    - {transport: udp, addr: "%s"}
rtp: {ip: 127.0.0.1, port_min: %d, port_max: %d}
queue: {login_on_register: true}
hotlines: [%s]
agents: [%s]
queues: [%s]
rules: [%s]
api: {listen: "127.0.0.1:0"}
metrics: {listen: "127.0.0.1:0"}
survey: {enabled: false}
recording:
  spool_dir: %s
  file: {dir: %s}
`, addr, rtpMin, rtpMin+199, hotlines, agents, queues, rules, filepath.Join(dir, "spool"), filepath.Join(dir, "recordings"))
}

// TestE2EHotReload: with a call in progress, the configuration file gains
// a hotline number and an agent (configured by HA1 hash) and alice's
// password changes; SIGHUP applies it: the call goes on to its end, bob
// registers and takes a call to the new number, alice's new password
// works. A file with a typo then changes nothing, logs the problem and
// drops hotline_config_last_reload_successful to 0; fixing the file (no
// signal: the file is watched) brings it back to 1.
func TestE2EHotReload(t *testing.T) {
	skipShort(t)
	port := freeSIPPort(t)
	addr := "127.0.0.1:" + port
	dir := t.TempDir()
	rtpMin := 27400
	p := startProcess(t, reloadConfig(addr, dir, rtpMin, `{number: "1900"}`, `{username: alice, password: alice-secret}`,
		`{name: general}`, `{name: all, queue: general}`))
	metricsAddr := p.logAttr(t, "metrics listening", "addr")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	alice := e2e.StartBaresip(t, e2e.BaresipOptions{User: "alice", Password: "alice-secret", Registrar: addr, ToneHz: agentHz, Record: true, AutoAnswer: true})
	if err := alice.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	caller := e2e.StartSIPp(t, e2e.SIPpOptions{Target: addr, Service: "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 5*time.Second), 6*time.Second)})
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("call not established: %v", err)
	}

	// Reload during the call: hotline 1901 with its own queue and rule,
	// bob (HA1 only) in it, alice's password changed.
	ha1, err := registrar.HA1("MD5", "bob", "hotline", "bob-secret")
	if err != nil {
		t.Fatal(err)
	}
	good := reloadConfig(addr, dir, rtpMin, `{number: "1900"}, {number: "1901"}`,
		`{username: alice, password: alice-new, queues: [general]}, {username: bob, ha1: `+ha1+`, queues: [new]}`,
		`{name: general}, {name: new}`, `{name: new, numbers: ["1901"], queue: new}, {name: all, queue: general}`)
	writeFile(t, p.config, good)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the reload", func() bool { return strings.Contains(p.logs.String(), `msg="configuration reloaded"`) })

	// The call in progress carries on to its normal end.
	cres, err := caller.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	if tone, active := heard(t, alice); tone != callerHz || active < 3*time.Second {
		t.Errorf("alice heard %v Hz for %s across the reload, want the whole call", tone, active)
	}

	// bob, new, registers with his password (Hotline holds only its hash)
	// and takes a call to the new number (the new rule and queue).
	bob := e2e.StartBaresip(t, e2e.BaresipOptions{User: "bob", Password: "bob-secret", Registrar: addr, ToneHz: agentHz, AutoAnswer: true})
	if err := bob.WaitRegistered(ctx); err != nil {
		t.Fatalf("bob, added by the reload, cannot register: %v", err)
	}
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: addr, Service: "1901",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, time.Second), 2*time.Second), Timeout: 20 * time.Second})
	res.RequireCalls(t, 1, 0)
	if established(bob) != 1 {
		t.Errorf("bob took %d calls to 1901, want 1", established(bob))
	}
	alice2 := e2e.StartBaresip(t, e2e.BaresipOptions{User: "alice", Password: "alice-new", Registrar: addr, ToneHz: agentHz, AutoAnswer: true})
	if err := alice2.WaitRegistered(ctx); err != nil {
		t.Fatalf("alice with her new password: %v", err)
	}
	if v := metricSum(t, metricsAddr, "hotline_config_last_reload_successful", nil); v != 1 {
		t.Errorf("hotline_config_last_reload_successful %v after a good reload, want 1", v)
	}

	// A typo: nothing changes, the problem is logged, the metric drops.
	writeFile(t, p.config, strings.Replace(good, "hotlines:", "hotlnes:", 1))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refused reload", func() bool {
		return strings.Contains(p.logs.String(), `msg="configuration not reloaded: the previous one stays in force"`)
	})
	if !strings.Contains(p.logs.String(), `unknown field \"hotlnes\" (did you mean \"hotlines\"?)`) {
		t.Errorf("the problem is not logged:\n%s", tail(p.logs.String(), 20))
	}
	if v := metricSum(t, metricsAddr, "hotline_config_last_reload_successful", nil); v != 0 {
		t.Errorf("hotline_config_last_reload_successful %v after a refused reload, want 0", v)
	}
	res = e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: addr, Service: "1901",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, time.Second), 2*time.Second), Timeout: 20 * time.Second})
	res.RequireCalls(t, 1, 0) // 1901 still served: the previous configuration stays

	// Fixed, without a signal: the watched file is reloaded.
	n := strings.Count(p.logs.String(), `msg="configuration reloaded"`)
	writeFile(t, p.config, good+"\n# fixed\n")
	waitFor(t, 10*time.Second, "the reload of the changed file", func() bool {
		return strings.Count(p.logs.String(), `msg="configuration reloaded"`) > n
	})
	if v := metricSum(t, metricsAddr, "hotline_config_last_reload_successful", nil); v != 1 {
		t.Errorf("hotline_config_last_reload_successful %v after the fix, want 1", v)
	}
	p.stop(t)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
