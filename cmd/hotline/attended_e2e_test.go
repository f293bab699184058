package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
)

// What the attended-transfer tests' phones send: alice (who holds and
// consults) and bob (the consultation's target) apart from the caller's
// 1000 Hz and from Hotline's built-in hold tone (440 Hz, 1 s in 5).
const (
	aliceHz = supervisorHz // 1700
	bobHz   = 1300.0
	holdHz  = 440.0
)

// between finds, in a phone's recording (which leaves out stretches
// without RTP and so drifts from the wall clock), the stretch after the
// first run of tone first (from 0.5 s on) and before tone then is heard:
// its samples, or a failure when there is none of at least least.
func between(t *testing.T, smp []int16, rate int, first, then float64, least time.Duration) []int16 {
	t.Helper()
	blk := rate / 10
	has := func(k int, hz float64) bool { return e2e.ToneLevel(smp[k*blk:(k+1)*blk], rate, hz) > toneHeard }
	n := len(smp) / blk
	from := 5
	for from < n && has(from, first) {
		from++
	}
	to := from
	for to < n && !has(to, then) {
		to++
	}
	if from == n || to == n || time.Duration(to-from)*100*time.Millisecond < least {
		t.Fatalf("the recording (%.1f s) has no stretch of %s between %v Hz and %v Hz: [%d, %d) tenths", float64(n)/10, least, first, then, from, to)
	}
	return smp[from*blk : to*blk]
}

// received is the last recording of what a baresip phone received.
func received(t *testing.T, b *e2e.Baresip) ([]int16, int) {
	t.Helper()
	wavs := b.ReceivedWAVs()
	if len(wavs) == 0 {
		t.Fatalf("%s recorded nothing", b.AOR)
	}
	smp, rate, err := e2e.ReadWAV(wavs[0])
	if err != nil {
		t.Fatal(err)
	}
	return smp, rate
}

// TestE2EHoldConsultationHangup: a baresip agent (alice) holds her caller
// with baresip's hold command (re-INVITE sendonly): the caller hears
// Hotline's hold tone, not alice and not silence. alice calls bob's
// username from the same phone (a consultation through Hotline: bob's
// phone rings and they talk), then hangs the consultation up: bob is hung
// up and alice's phone resumes the caller (re-INVITE sendrecv), who
// hears her again. One call, alice its only agent, with hold time. (That
// the caller stays held until the agent retrieves them: sip's
// TestAttendedTransferConsultationHangup.)
func TestE2EHoldConsultationHangup(t *testing.T) {
	skipShort(t)
	a := startTransferApp(t, 0)
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: aliceHz, Record: true, AutoAnswer: true})
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: bobHz, Record: true, AutoAnswer: true})
	caller := startCaller(t, a, "udp")
	callHotline(t, a, caller, alice)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	time.Sleep(1500 * time.Millisecond) // alice talks

	if _, err := alice.Command(ctx, "hold", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Hotline to take the hold", func() bool {
		return strings.Contains(a.logs.String(), "caller on hold: hold music")
	})
	if err := alice.Dial(ctx, "sip:bob@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("bob's phone did not get alice's consultation: %v", err)
	}
	time.Sleep(5 * time.Second)                                 // alice and bob talk; the hold tone is on 1 s in 5
	if _, err := alice.Command(ctx, "hangup", ""); err != nil { // the current call: the consultation
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("bob was not hung up with the consultation: %v", err)
	}
	// baresip 1.0 resumes the held call itself (re-INVITE sendrecv) once
	// the current call ends.
	waitFor(t, 5*time.Second, "alice's phone to retrieve the caller", func() bool {
		return strings.Contains(a.logs.String(), "caller retrieved from hold")
	})
	time.Sleep(2 * time.Second) // alice talks again
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a)

	// The phone's recording drops and shifts audio by up to a second:
	// find the hold in it as the stretch without alice's tone.
	smp, rate := received(t, caller)
	onHold := between(t, smp, rate, aliceHz, aliceHz, 3*time.Second)
	if d := e2e.ActiveDuration(onHold, rate); d < 500*time.Millisecond {
		t.Errorf("the held caller heard %s of sound in %s: want Hotline's hold tone, not silence", d, time.Duration(len(onHold)/(rate/1000))*time.Millisecond)
	}
	if lvl := e2e.ToneLevel(onHold, rate, holdHz); lvl < 0.01 {
		t.Errorf("the held caller does not hear the hold tone (level %.4f)", lvl)
	}
	if lvl := e2e.ToneLevel(onHold, rate, bobHz); lvl > 0.02 {
		t.Errorf("the held caller hears bob's consultation (level %.4f)", lvl)
	}
	if n := len(smp); n < 2*rate || e2e.ToneLevel(smp[n-rate:n-rate/8], rate, aliceHz) < toneHeard {
		t.Errorf("the retrieved caller does not hear alice at the end of the call")
	}
	bs, brate := received(t, bob)
	if n := len(bs); n < brate || e2e.ToneLevel(bs[brate/4:n-brate/8], brate, aliceHz) < toneHeard {
		t.Errorf("bob does not hear alice in the consultation (%d samples)", len(bs))
	}
	line := lastLine(a.logs.String(), "msg=\"call ended\"")
	if !strings.Contains(line, "agent=alice") || strings.Contains(line, "hold=0s") {
		t.Errorf("Hotline's record of the call: %q, want alice with hold time", line)
	}
	if strings.Contains(a.logs.String(), "call ended: transfer") {
		t.Error("the call's record lists a transfer; the consultation was hung up")
	}
}

// TestE2EBlindTransferToQueueHearsMusic: alice blind-transfers her caller
// to the complaints queue (transfer number 2001), whose only agent (bob)
// is paused: the caller waits there hearing Hotline's hold tone, not
// silence; once bob is back he gets the caller.
func TestE2EBlindTransferToQueueHearsMusic(t *testing.T) {
	skipShort(t)
	a := startTransferApp(t, 0)
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: aliceHz, AutoAnswer: true})
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: bobHz, Record: true, AutoAnswer: true})
	if err := a.acd.Pause("bob", "test"); err != nil {
		t.Fatal(err)
	}
	caller := startCaller(t, a, "udp")
	callHotline(t, a, caller, alice)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	time.Sleep(time.Second)
	if _, err := alice.Command(ctx, "transfer", "sip:2001@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("alice's phone was not taken off the call: %v", err)
	}
	// The hold tone is on 1 s in 5. The phone's recording loses up to
	// half of the audio on a loaded machine (a 5 s recording of a 9 s
	// call under the full -race suite): wait long enough for 4 s of it.
	time.Sleep(10 * time.Second)
	if err := a.acd.Unpause("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("bob did not get the transferred caller: %v", err)
	}
	bobStart := time.Now()
	time.Sleep(2 * time.Second)
	end := time.Now()
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a)
	smp, rate := received(t, caller)
	queued := between(t, smp, rate, aliceHz, bobHz, 4*time.Second)
	if d := e2e.ActiveDuration(queued, rate); d < 700*time.Millisecond {
		t.Errorf("the transferred caller heard %s of sound in the queue: want the hold tone, not silence", d)
	}
	if lvl := e2e.ToneLevel(queued, rate, holdHz); lvl < 0.01 {
		t.Errorf("the transferred caller does not hear the hold tone (level %.4f)", lvl)
	}
	bobHearsCaller(t, bob, end.Sub(bobStart))
}

// sippScenario reads a SIPp scenario of testdata/sipp.
func sippScenario(t *testing.T, name string) e2e.Scenario {
	t.Helper()
	xml, err := os.ReadFile(filepath.Join("testdata", "sipp", name+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	return e2e.Scenario{Name: name, XML: string(xml)}
}

// TestE2EAttendedTransferSIPp: the agent's phone is SIPp
// (testdata/sipp/attended-agent.xml and its 3PCC twin
// attended-consult.xml): offered a baresip caller, it answers, holds
// (re-INVITE sendonly), calls bob's username through Hotline (bob's
// baresip phone answers), then sends REFER with Replaces naming that
// consultation. SIPp sees 202, NOTIFY 100 and NOTIFY 200 and Hotline's
// BYE on both legs; the caller heard the hold tone while held, then bob,
// whose phone (no new INVITE) hears the caller; the call's record lists
// the attended transfer by alice to bob.
func TestE2EAttendedTransferSIPp(t *testing.T) {
	skipShort(t)
	a := startTransferApp(t, 0)
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: bobHz, Record: true, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	consult, agent := startSIPpAlice(ctx, t, a, "attended-consult")

	caller := startCaller(t, a, "udp")
	if err := caller.Dial(ctx, "sip:1900@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("caller not connected: %v", err)
	}
	res, err := agent.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	cres, err := consult.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the caller talks to bob
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a)

	// What alice's phone saw: 202 to its REFER, NOTIFYs 100 and 200.
	var got []string
	for _, m := range sippReceived(t, res.Dir) {
		switch {
		case strings.HasPrefix(m, "SIP/2.0 202"):
			got = append(got, "202")
		case strings.HasPrefix(m, "NOTIFY "):
			_, frag, _ := strings.Cut(m, "\r\n\r\n")
			got = append(got, "NOTIFY "+strings.TrimSpace(frag))
		}
	}
	if want := []string{"202", "NOTIFY SIP/2.0 100 Trying", "NOTIFY SIP/2.0 200 OK"}; !slices.Equal(got, want) {
		t.Errorf("alice's phone got %q, want %q", got, want)
	}
	smp, rate := received(t, caller)
	if lvl := e2e.ToneLevel(smp, rate, holdHz); lvl < 0.01 {
		t.Errorf("the held caller did not hear the hold tone (level %.4f)", lvl)
	}
	// (The phones' recordings leave out stretches without RTP: the ends
	// of the recordings are the end of the call.)
	if n := len(smp); n < 2*rate || e2e.ToneLevel(smp[n-rate:n-rate/8], rate, bobHz) < toneHeard {
		t.Errorf("the caller does not hear bob at the end of the call (%d samples)", n)
	}
	bs, brate := received(t, bob)
	if n := len(bs); n < brate || e2e.ToneLevel(bs[n-brate:n-brate/8], brate, callerHz) < toneHeard {
		t.Errorf("bob does not hear the caller at the end of the call (%d samples)", n)
	}
	if len(bob.ReceivedWAVs()) != 1 {
		t.Errorf("bob's phone has %d calls, want the consultation only (no new INVITE)", len(bob.ReceivedWAVs()))
	}
	line := lastLine(a.logs.String(), "call ended: transfer")
	for _, want := range []string{"kind=attended", "by=alice", "target=agent:bob", `agents="[alice bob]"`} {
		if !strings.Contains(line, want) {
			t.Errorf("Hotline's record of the call: %q, want %s", line, want)
		}
	}
}

// sippReceived are the SIP messages SIPp received, from its message
// trace (-trace_msg) in dir, in order.
func sippReceived(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*_messages.log"))
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range strings.Split(string(data), "message received")[1:] {
			// "... [n] bytes :\n\n<message>\n\n-----..."
			_, msg, _ := strings.Cut(chunk, "\n\n")
			msg, _, _ = strings.Cut(msg, "\n-----")
			out = append(out, strings.TrimSpace(msg))
		}
	}
	return out
}

// TestE2ESemiAttendedTransferSIPp: as TestE2EAttendedTransferSIPp, but
// alice's phone (SIPp, attended-agent.xml with its twin
// semi-attended-consult.xml) completes with REFER + Replaces while bob's
// baresip phone still rings: alice is told 202, NOTIFY 100 and 200 and
// hung up at once; the caller hears ringback while bob rings, then bob
// once he answers that same INVITE (no new one); alice's consultation
// gets 487. The record lists the attended transfer by alice to bob.
func TestE2ESemiAttendedTransferSIPp(t *testing.T) {
	skipShort(t)
	a := startTransferApp(t, 0)
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: bobHz, Record: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	consult, agent := startSIPpAlice(ctx, t, a, "semi-attended-consult")

	caller := startCaller(t, a, "udp")
	if err := caller.Dial(ctx, "sip:1900@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("caller not connected: %v", err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallIncoming); err != nil {
		t.Fatalf("bob's phone did not ring for the consultation: %v", err)
	}
	res, err := agent.Wait(ctx) // REFER, 202, NOTIFYs, Hotline's BYE: while bob rings
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	if bob.HasEvent(e2e.EventCallEstablished) {
		t.Fatal("bob answered before alice completed: not a semi-attended transfer")
	}
	time.Sleep(time.Second) // the caller hears ringback while bob rings (he may ring 2 s)
	if err := bob.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	cres, err := consult.Wait(ctx) // 487 once bob took the caller
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	time.Sleep(2 * time.Second) // the caller talks to bob
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a)

	var got []string
	for _, m := range sippReceived(t, res.Dir) {
		switch {
		case strings.HasPrefix(m, "SIP/2.0 202"):
			got = append(got, "202")
		case strings.HasPrefix(m, "NOTIFY "):
			_, frag, _ := strings.Cut(m, "\r\n\r\n")
			got = append(got, "NOTIFY "+strings.TrimSpace(frag))
		}
	}
	if want := []string{"202", "NOTIFY SIP/2.0 100 Trying", "NOTIFY SIP/2.0 200 OK"}; !slices.Equal(got, want) {
		t.Errorf("alice's phone got %q, want %q", got, want)
	}
	smp, rate := received(t, caller)
	// What the caller heard before bob (the recording leaves out
	// stretches without RTP): ringback (425 Hz), not the hold tone
	// (440 Hz) nor silence.
	blk := rate / 10
	bobFrom := 0
	for k := 0; (k+1)*blk <= len(smp); k++ {
		if e2e.ToneLevel(smp[k*blk:(k+1)*blk], rate, bobHz) > toneHeard {
			bobFrom = k
			break
		}
	}
	if bobFrom < 5 {
		t.Fatalf("bob first heard at %d tenths of the caller's recording, want after half a second of ringing", bobFrom)
	}
	if got := e2e.DominantTone(smp[:(bobFrom-1)*blk], rate, []float64{ringbackHz, holdHz, aliceHz}); got != ringbackHz {
		t.Errorf("while bob rang the caller heard %v Hz, want Hotline's ringback %v Hz", got, ringbackHz)
	}
	if n := len(smp); n < 2*rate || e2e.ToneLevel(smp[n-rate:n-rate/8], rate, bobHz) < toneHeard {
		t.Errorf("the caller does not hear bob at the end of the call (%d samples)", n)
	}
	bs, brate := received(t, bob)
	if n := len(bs); n < brate || e2e.ToneLevel(bs[n-brate:n-brate/8], brate, callerHz) < toneHeard {
		t.Errorf("bob does not hear the caller at the end of the call (%d samples)", n)
	}
	if len(bob.ReceivedWAVs()) != 1 {
		t.Errorf("bob's phone has %d calls, want the consultation only (no new INVITE)", len(bob.ReceivedWAVs()))
	}
	line := lastLine(a.logs.String(), "call ended: transfer")
	for _, want := range []string{"kind=semi_attended", "by=alice", "target=agent:bob", `agents="[alice bob]"`} {
		if !strings.Contains(line, want) {
			t.Errorf("Hotline's record of the call: %q, want %s", line, want)
		}
	}
}

// startSIPpAlice registers alice's SIPp phone (bench/sipp/register.xml,
// from the port her call leg then binds) and starts her two 3PCC twins:
// the agent leg (attended-agent.xml) and the consultation scenario.
func startSIPpAlice(ctx context.Context, t *testing.T, a *testApp, consultScenario string) (consult, agent *e2e.SIPp) {
	t.Helper()
	ag, _ := a.cfg.Agent("alice")
	inf := filepath.Join(t.TempDir(), "alice.csv")
	auth := "alice;[authentication username=alice password=" + ag.Password + "]\n"
	if err := os.WriteFile(inf, []byte("SEQUENTIAL\n"+auth), 0o644); err != nil {
		t.Fatal(err)
	}
	port := e2e.FreeUDPTCPPort(t)
	reg := sippScenario(t, "../../../../bench/sipp/register")
	reg.Name = "register"
	e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Scenario: reg, LocalPort: port,
		ExtraArgs: []string{"-inf", inf}}).RequireCalls(t, 1, 0)
	waitFor(t, 5*time.Second, "alice registered", func() bool {
		info, _ := a.acd.Agent("alice")
		return info.Registered
	})
	twin := fmt.Sprintf("127.0.0.1:%d", e2e.FreePort(t, "tcp"))
	consult = e2e.StartSIPp(t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Scenario: sippScenario(t, consultScenario),
		Keys: map[string]string{"target": "bob"}, Timeout: 50 * time.Second, ExtraArgs: []string{"-3pcc", twin, "-inf", inf}})
	agent = e2e.StartSIPp(t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Scenario: sippScenario(t, "attended-agent"),
		LocalPort: port, Timeout: 50 * time.Second, ExtraArgs: []string{"-3pcc", twin}})
	return consult, agent
}
