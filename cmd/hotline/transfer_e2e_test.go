package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"hotline/internal/e2e"
	"hotline/internal/miniotest"
	"hotline/routing/config"
)

// TestE2ETransferRefusals: a baresip agent transfers its call (baresip's
// transfer command sends REFER) to targets Hotline refuses: a number
// nobody has, an outside number while no gateway is configured. The phone
// gets the status and reason (its TRANSFER_FAILED event) and Hotline logs
// and counts the refusal. baresip 1.0 hangs its call up after a failed
// transfer: the caller then gets a clean BYE and Hotline is left idle.
// (That a refused REFER leaves the call going is shown with phones that
// stay on the line: sip's TestReferRefusals.)
func TestE2ETransferRefusals(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		off := false
		c.Survey.Enabled = &off
	})
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	caller := startCaller(t, a, "udp")
	for _, tc := range []struct {
		target, status, log string
	}{
		{"sip:2999@" + a.sipAddr("udp"), "404 Unknown Transfer Target", "status=404"},
		{"sip:+1900555000@" + a.sipAddr("udp"), "403 No Outbound Gateway", "status=403"},
	} {
		t.Run(tc.log, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			callHotline(t, a, caller, agent)
			if _, err := agent.Command(ctx, "transfer", tc.target); err != nil {
				t.Fatal(err)
			}
			ev, err := agent.WaitEvent(ctx, "TRANSFER_FAILED")
			if err != nil {
				t.Fatalf("the agent's phone got no answer to its REFER: %v", err)
			}
			if ev.Param != tc.status {
				t.Errorf("REFER to %s: the phone got %q, want %q", tc.target, ev.Param, tc.status)
			}
			if line := lastLine(a.logs.String(), "transfer refused"); !strings.Contains(line, tc.log) {
				t.Errorf("REFER to %s: Hotline logged %q, want %s", tc.target, line, tc.log)
			}
			if _, err := caller.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, a)
		})
	}
}

// lastLine is the last line of s containing sub.
func lastLine(s, sub string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	return ""
}

// TestE2EBlindTransfer: a baresip agent (alice) blind-transfers her
// caller with baresip's transfer command (REFER): Hotline takes alice's
// phone off the call and moves the caller, whose tone reaches the target
// phone (bob): to bob by name, and to a queue by its transfer number.
// alice's phone sees the NOTIFY 200 (baresip closes its call "Call
// transfered"); Hotline's record lists alice then bob.
func TestE2EBlindTransfer(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name, target string
	}{
		{"to an agent", "sip:bob@"},
		{"to a queue", "sip:2001@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startTransferApp(t, 0)
			alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
			caller := startCaller(t, a, "udp")
			callHotline(t, a, caller, alice)
			bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := alice.Command(ctx, "transfer", tc.target+a.sipAddr("udp")); err != nil {
				t.Fatal(err)
			}
			// baresip closes its call "Call transfered" on the NOTIFY whose
			// sipfrag says 200: the progress reached the phone.
			if ev, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatalf("alice's phone was not taken off the call: %v", err)
			} else if ev.Param != "Call transfered" {
				t.Errorf("alice's call closed with %q, want baresip's \"Call transfered\" (NOTIFY 200 received)", ev.Param)
			}
			if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
				t.Fatalf("bob's phone did not get the transferred caller: %v", err)
			}
			bobStart := time.Now()
			time.Sleep(2 * time.Second)
			end := time.Now()
			if line := lastLine(a.logs.String(), "msg=transferred"); !strings.Contains(line, "by=alice") {
				t.Errorf("Hotline logged %q, want the transfer by alice", line)
			}
			if err := caller.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := bob.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, a)
			if line := lastLine(a.logs.String(), "call ended: transfer"); !strings.Contains(line, "agents=\"[alice bob]\"") {
				t.Errorf("Hotline's record of the call: %q, want agents alice then bob", line)
			}
			bobHearsCaller(t, bob, end.Sub(bobStart))
		})
	}
}

// startTransferApp starts Hotline with queues general (alice and carol;
// ring timeout 2 s, wrap-up wrapUp) and complaints (bob, transfer number
// 2001), the survey off unless mods turn it on.
func startTransferApp(t *testing.T, wrapUp time.Duration, mods ...func(*Config)) *testApp {
	t.Helper()
	return startApp(t, func(c *Config) {
		off := false
		c.Survey.Enabled = &off // mods may turn it on
		for _, m := range mods {
			m(c)
		}
		c.Queues = []config.QueueDef{{Name: "general", RingTimeout: 2 * time.Second, WrapUp: wrapUp},
			{Name: "complaints", TransferNumber: "2001"}}
		c.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		for i := range c.Agents {
			c.Agents[i].Queues = []string{"general"}
			if c.Agents[i].Username == "bob" {
				c.Agents[i].Queues = []string{"complaints"}
			}
		}
		c.Callbacks.Queue = "general"
		c.Config.SetDefaults() // queue defaults for the queues set here
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

// callIDOf is the call_id of the last log line containing sub (waiting
// up to 5 s for Hotline to log it).
func callIDOf(t *testing.T, a *testApp, sub string) string {
	t.Helper()
	line := lastLine(a.logs.String(), sub)
	for deadline := time.Now().Add(5 * time.Second); line == "" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		line = lastLine(a.logs.String(), sub)
	}
	_, rest, ok := strings.Cut(line, "call_id=")
	if !ok {
		t.Fatalf("no call_id in Hotline's %q line: %q", sub, line)
	}
	id, _, _ := strings.Cut(rest, " ")
	return id
}

// TestE2EBlindTransferNoAnswer: alice transfers her caller to bob, whose
// phone rings but is not answered: the caller goes back to the general
// queue ahead of a caller who was waiting there before, so carol,
// arriving, gets the transferred caller first.
func TestE2EBlindTransferNoAnswer(t *testing.T) {
	skipShort(t)
	a := startTransferApp(t, 30*time.Second) // alice takes no call after transferring
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	caller := startCaller(t, a, "udp")
	callHotline(t, a, caller, alice)
	first := callIDOf(t, a, "msg=bridged")
	other := e2e.StartBaresip(t, e2e.BaresipOptions{User: "0911111111", ToneHz: callerHz})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := other.Dial(ctx, "sip:1900@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("the second caller was not answered (hold music): %v", err)
	}
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz}) // does not answer

	if _, err := alice.Command(ctx, "transfer", "sip:bob@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("alice's phone was not taken off the call: %v", err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallIncoming); err != nil {
		t.Fatalf("bob's phone did not ring: %v", err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("bob's ringing did not stop: %v", err)
	}
	carol := startAgent(t, a, "carol", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	if _, err := carol.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("carol got no call: %v", err)
	}
	if got := callIDOf(t, a, "agent=carol caller_codec"); got != first { // the "bridged" line
		t.Errorf("carol got call %s, want the transferred call %s back first in line", got, first)
	}
	if line := lastLine(a.logs.String(), "goes back to their queue"); !strings.Contains(line, "call_id="+first) {
		t.Errorf("Hotline logged %q, want the transferred caller going back", line)
	}
	_ = caller.Hangup(ctx)
	_ = other.Hangup(ctx)
	waitIdle(t, a)
}

// TestE2ETransferAPI: POST /api/v1/calls/{id}/transfer moves the caller
// of a baresip agent to bob's phone, which hears the caller's tone;
// refusals answer JSON errors and change nothing.
func TestE2ETransferAPI(t *testing.T) {
	skipShort(t)
	a := startTransferApp(t, 0)
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	caller := startCaller(t, a, "udp")
	callHotline(t, a, caller, alice)
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	var calls []struct {
		CallID string `json:"call_id"`
	}
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/calls"), "", &calls); code != 200 || len(calls) != 1 {
		t.Fatalf("GET /api/v1/calls: %d %+v", code, calls)
	}
	url := a.apiURL("/api/v1/calls/" + calls[0].CallID + "/transfer")
	for _, bad := range []struct {
		url, body string
		code      int
	}{
		{url, `{"to": "bob"}`, 400},
		{url, `{"to": "queue:nope"}`, 404},
		{a.apiURL("/api/v1/calls/no-such-call/transfer"), `{"to": "agent:bob"}`, 404},
		{url, `{"to": "number:+1900555000"}`, 403},
	} {
		var e struct {
			Code string `json:"code"`
		}
		if code := httpJSON(t, "POST", bad.url, bad.body, &e); code != bad.code || e.Code == "" {
			t.Errorf("POST %s %s: %d %q, want %d with an error code", bad.url, bad.body, code, e.Code, bad.code)
		}
	}
	var st struct {
		To string `json:"to"`
	}
	if code := httpJSON(t, "POST", url, `{"to": "agent:bob"}`, &st); code != 200 || st.To != "agent:bob" {
		t.Fatalf("POST transfer: %d %+v, want 200 agent:bob", code, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("alice's phone was not hung up: %v", err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("bob's phone did not get the caller: %v", err)
	}
	bobStart := time.Now()
	time.Sleep(2 * time.Second)
	end := time.Now()
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a)
	bobHearsCaller(t, bob, end.Sub(bobStart))
}

// bobHearsCaller checks that bob's phone recorded the caller's tone from
// 0.5 s into its call up to talk.
func bobHearsCaller(t *testing.T, bob *e2e.Baresip, talk time.Duration) {
	t.Helper()
	wavs := bob.ReceivedWAVs()
	if len(wavs) == 0 {
		t.Fatal("bob's phone recorded nothing")
	}
	smp, rate, err := e2e.ReadWAV(wavs[len(wavs)-1])
	if err != nil {
		t.Fatal(err)
	}
	i, j := rate/2, min(int(talk.Seconds()*float64(rate)), len(smp))
	if j-i < rate/2 {
		t.Fatalf("bob's recording (%d samples) has no [%d, %d)", len(smp), i, j)
	}
	if lvl := e2e.ToneLevel(smp[i:j], rate, callerHz); lvl < toneHeard {
		t.Errorf("bob does not hear the caller's tone (level %.4f)", lvl)
	}
}

// TestE2EBlindTransferRecording: a transferred call is one recording in
// the bucket: the caller on the left channel throughout, on the right
// alice's tone first, then bob's (bob sends another tone).
func TestE2EBlindTransferRecording(t *testing.T) {
	skipShort(t)
	m := miniotest.Start(t)
	a := startTransferApp(t, 0, func(c *Config) { useMinIO(c, m) })
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	caller := startCaller(t, a, "udp")
	callHotline(t, a, caller, alice)
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: supervisorHz, AutoAnswer: true})
	time.Sleep(2 * time.Second) // alice talks
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := alice.Command(ctx, "transfer", "sip:bob@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("bob's phone did not get the caller: %v", err)
	}
	time.Sleep(3 * time.Second) // bob talks
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a)

	cl := minioClient(t, m)
	var keys []string
	waitFor(t, 20*time.Second, "the recording and its call record in the bucket", func() bool {
		keys = objects(t, cl)
		return len(keys) >= 2
	})
	wav := wavKeys(keys)
	if len(wav) != 1 {
		t.Fatalf("bucket holds %v, want one recording for the transferred call", keys)
	}
	path := filepath.Join(t.TempDir(), "rec.wav")
	if err := cl.FGetObject(ctx, testBucket, wav[0], path, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	left, _, err := e2e.ReadWAVChannel(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	all := []float64{callerHz, agentHz, supervisorHz}
	n := len(right)
	if n < 8000*4 {
		t.Fatalf("recording is %d samples, want over 4 s", n)
	}
	if got := e2e.DominantTone(left, 8000, all); got != callerHz {
		t.Errorf("left channel carries %v Hz, want the caller's %v Hz", got, callerHz)
	}
	if got := e2e.DominantTone(right[4000:12000], 8000, all); got != agentHz {
		t.Errorf("right channel at 0.5-1.5 s carries %v Hz, want alice's %v Hz", got, agentHz)
	}
	if got := e2e.DominantTone(right[n-20000:n-4000], 8000, all); got != supervisorHz {
		t.Errorf("right channel near the end carries %v Hz, want bob's %v Hz", got, supervisorHz)
	}
}
