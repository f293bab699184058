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

	"hotline/deploy"
	"hotline/internal/e2e"
	"hotline/internal/proctest"
	"hotline/sip/registrar"
)

// reloadConfig is a process configuration: SIP on addr, RTP on the 200
// ports from rtpMin (proctest.FreeUDPRange(t, 200)), the given hotline numbers, agents, queues and rules (YAML flow items).
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

// reloadSetup picks what a reload test's process runs on (reloadConfig's
// first arguments): a free SIP address, a temporary directory and 200 RTP
// ports.
func reloadSetup(t *testing.T) (addr, dir string, rtpMin int) {
	t.Helper()
	addr = "127.0.0.1:" + freeSIPPort(t)
	rtpMin, _ = proctest.FreeUDPRange(t, 200)
	return addr, t.TempDir(), rtpMin
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
	addr, dir, rtpMin := reloadSetup(t)
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

// writePrompt writes a 4 s tone of hz as <dir>/<lang>/closed.wav for
// every language of dir (replaced in one rename).
func writePrompt(t *testing.T, dir string, hz float64) {
	t.Helper()
	langs, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range langs {
		if !l.IsDir() {
			continue
		}
		tmp := filepath.Join(dir, l.Name(), "closed.tmp")
		if err := e2e.WriteWAV(tmp, e2e.ToneSamples(hz, 4*time.Second, 8000, 0), 8000, 1); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, l.Name(), "closed.wav")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2EPromptsReload: the queue is closed and its after-hours message
// is the prompt closed.wav of survey.prompts_dir. While a caller hears
// it, the file is replaced by another tone and SIGHUP reloads: that
// caller hears the old prompt to its end, the next caller hears the new
// one. Replaced again without a signal, the watched prompts directory
// is reloaded and the next caller hears that one.
func TestE2EPromptsReload(t *testing.T) {
	skipShort(t)
	const oldHz, newHz, thirdHz = 600.0, 1400.0, 2000.0
	prompts := filepath.Join(t.TempDir(), "prompts")
	if err := os.CopyFS(prompts, deploy.Prompts()); err != nil {
		t.Fatal(err)
	}
	writePrompt(t, prompts, oldHz)
	addr, dir, rtpMin := reloadSetup(t)
	cfg := reloadConfig(addr, dir, rtpMin, `{number: "1900"}`, `{username: alice, password: alice-secret}`,
		`{name: general, schedule: closed, after_hours: {type: message, message: closed}}`, `{name: all, queue: general}`)
	cfg = strings.Replace(cfg, "survey: {enabled: false}", "survey: {enabled: false, prompts_dir: "+prompts+"}", 1) +
		"schedules: [{name: closed, zone: UTC}]\n"
	p := startProcess(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	candidates := []float64{oldHz, newHz, thirdHz}
	// call dials the hotline and returns what the caller heard once
	// Hotline hung up; during runs while the message plays.
	call := func(during func()) (float64, time.Duration) {
		t.Helper()
		caller := e2e.StartBaresip(t, e2e.BaresipOptions{User: "0987654321", ToneHz: callerHz, Record: true})
		if err := caller.Dial(ctx, "sip:1900@"+addr); err != nil {
			t.Fatal(err)
		}
		if _, err := caller.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			t.Fatalf("the closed message was not answered: %v", err)
		}
		if during != nil {
			during()
		}
		if _, err := caller.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatalf("Hotline did not hang up after the message: %v", err)
		}
		wavs := caller.ReceivedWAVs()
		if len(wavs) == 0 {
			t.Fatal("the caller recorded nothing")
		}
		s, rate, err := e2e.ReadWAV(wavs[len(wavs)-1])
		if err != nil {
			t.Fatal(err)
		}
		return e2e.DominantTone(s, rate, candidates), e2e.ActiveDuration(s, rate)
	}

	hz, active := call(func() {
		time.Sleep(time.Second) // the message is playing
		writePrompt(t, prompts, newHz)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the prompts reload", func() bool { return strings.Contains(p.logs.String(), `msg="prompts reloaded"`) })
	})
	if hz != oldHz || active < 3500*time.Millisecond {
		t.Errorf("the caller during the reload heard %v Hz for %s, want the old %v Hz prompt to its end (4 s)", hz, active, oldHz)
	}
	if hz, _ := call(nil); hz != newHz {
		t.Errorf("the next caller heard %v Hz, want the reloaded prompt's %v Hz", hz, newHz)
	}

	// No signal: the watched directory is reloaded.
	n := strings.Count(p.logs.String(), `msg="prompts reloaded"`)
	writePrompt(t, prompts, thirdHz)
	waitFor(t, 10*time.Second, "the reload of the changed prompt", func() bool {
		return strings.Count(p.logs.String(), `msg="prompts reloaded"`) > n
	})
	if hz, _ := call(nil); hz != thirdHz {
		t.Errorf("after the watched reload the caller heard %v Hz, want %v Hz", hz, thirdHz)
	}
	p.stop(t)
}

// TestE2EReloadMaxCPS: sip.overload.max_cps applies on a reload, without
// a restart (as FreeSWITCH's "fsctl sps"). Set to one call per five
// seconds, a new call while alice talks to the first gets 503 with
// Retry-After and counts as refused by max_cps; the bound is on
// /metrics. Taken out again, two calls a tenth of a second apart are
// both answered. Neither reload logs the sip section as needing a
// restart.
func TestE2EReloadMaxCPS(t *testing.T) {
	skipShort(t)
	addr, dir, rtpMin := reloadSetup(t)
	base := reloadConfig(addr, dir, rtpMin, `{number: "1900"}`, `{username: alice, password: alice-secret}`,
		`{name: general}`, `{name: all, queue: general}`)
	// The measured signals off (as startProcess does), so that the busy
	// test machine cannot refuse a call for them.
	withCPS := func(cps string) string {
		return strings.Replace(base, "\nsip:\n", strings.Replace(processOverloadOff, "socket_delay: -1ms}", "socket_delay: -1ms"+cps+"}", 1), 1)
	}
	p := startProcess(t, withCPS(""))
	metricsAddr := p.logAttr(t, "metrics listening", "addr")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alice := e2e.StartBaresip(t, e2e.BaresipOptions{User: "alice", Password: "alice-secret", Registrar: addr, ToneHz: agentHz, AutoAnswer: true})
	if err := alice.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if v := metricSum(t, metricsAddr, "hotline_overload_max_calls_per_second", nil); v != 0 {
		t.Fatalf("hotline_overload_max_calls_per_second %v at start without max_cps, want 0", v)
	}

	reload := func(config string) {
		t.Helper()
		n := strings.Count(p.logs.String(), `msg="sip.overload.max_cps applied"`)
		writeFile(t, p.config, config)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "max_cps applied", func() bool {
			return strings.Count(p.logs.String(), `msg="sip.overload.max_cps applied"`) > n
		})
	}
	reload(withCPS(", max_cps: 0.2"))
	if v := metricSum(t, metricsAddr, "hotline_overload_max_calls_per_second", nil); v != 0.2 {
		t.Errorf("hotline_overload_max_calls_per_second %v after the reload, want 0.2", v)
	}
	first := e2e.StartSIPp(t, e2e.SIPpOptions{Target: addr, Service: "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, time.Second), 2*time.Second)})
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("the first call after the reload: %v", err)
	}
	if got := inviteStatusAt(t, addr); got.status != 503 || got.retryAfter == "" {
		t.Errorf("a second new call within five seconds at max_cps 0.2: %d with Retry-After %q, want 503 with Retry-After", got.status, got.retryAfter)
	}
	waitCount(t, "hotline_calls_refused_total{reason=max_cps}", 1, func() float64 {
		return metricSum(t, metricsAddr, "hotline_calls_refused_total", map[string]string{"reason": "max_cps"})
	})
	res, err := first.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)

	reload(withCPS(""))
	if v := metricSum(t, metricsAddr, "hotline_overload_max_calls_per_second", nil); v != 0 {
		t.Errorf("hotline_overload_max_calls_per_second %v after max_cps was taken out, want 0", v)
	}
	two := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: addr, Service: "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, time.Second), 2*time.Second), Calls: 2, Rate: 10, Timeout: 20 * time.Second})
	two.RequireCalls(t, 2, 0)
	if strings.Contains(p.logs.String(), `msg="configuration change needs a restart to apply" section=sip`) {
		t.Errorf("a max_cps change was logged as needing a restart:\n%s", tail(p.logs.String(), 20))
	}
	p.stop(t)
}
