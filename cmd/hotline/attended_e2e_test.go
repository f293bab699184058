package main

import (
	"context"
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

// window returns samples [from, to) of a recording that began at start.
func window(t *testing.T, smp []int16, rate int, start, from, to time.Time) []int16 {
	t.Helper()
	i, j := int(from.Sub(start).Seconds()*float64(rate)), int(to.Sub(start).Seconds()*float64(rate))
	i, j = max(i, 0), min(j, len(smp))
	if j-i < rate/2 {
		t.Fatalf("recording of %d samples has no [%d, %d)", len(smp), i, j)
	}
	return smp[i:j]
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
	bobStart := time.Now()
	time.Sleep(5 * time.Second) // alice and bob talk; the hold tone is on 1 s in 5
	if _, err := alice.Command(ctx, "hangup", ""); err != nil { // the current call: the consultation
		t.Fatal(err)
	}
	bobEnd := time.Now()
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
	blk := rate / 10
	hasAlice := func(k int) bool { return e2e.ToneLevel(smp[k*blk:(k+1)*blk], rate, aliceHz) > toneHeard }
	n := len(smp) / blk
	from := 5 // alice is heard from 0.5 s
	for from < n && hasAlice(from) {
		from++
	}
	to := from
	for to < n && !hasAlice(to) {
		to++
	}
	if from == n || to == n || to-from < 30 {
		t.Fatalf("the caller's recording (%d s) has no stretch of 3 s without alice followed by alice: hold [%d, %d) tenths", n/10, from, to)
	}
	onHold := smp[from*blk : to*blk]
	if d := e2e.ActiveDuration(onHold, rate); d < 500*time.Millisecond {
		t.Errorf("the held caller heard %s of sound in %s: want Hotline's hold tone, not silence", d, time.Duration(to-from)*100*time.Millisecond)
	}
	if lvl := e2e.ToneLevel(onHold, rate, holdHz); lvl < 0.01 {
		t.Errorf("the held caller does not hear the hold tone (level %.4f)", lvl)
	}
	if lvl := e2e.ToneLevel(onHold, rate, bobHz); lvl > 0.02 {
		t.Errorf("the held caller hears bob's consultation (level %.4f)", lvl)
	}
	if lvl := e2e.ToneLevel(smp[to*blk:], rate, aliceHz); lvl < toneHeard {
		t.Errorf("the retrieved caller does not hear alice (level %.4f)", lvl)
	}
	bs, brate := received(t, bob)
	if lvl := e2e.ToneLevel(window(t, bs, brate, bobStart, bobStart.Add(500*time.Millisecond), bobEnd), brate, aliceHz); lvl < toneHeard {
		t.Errorf("bob does not hear alice in the consultation (level %.4f)", lvl)
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
	callerStart, _ := callHotline(t, a, caller, alice)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	time.Sleep(time.Second)
	if _, err := alice.Command(ctx, "transfer", "sip:2001@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("alice's phone was not taken off the call: %v", err)
	}
	moved := time.Now()
	time.Sleep(6 * time.Second) // the hold tone is on 1 s in 5
	waiting := time.Now()
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
	queued := window(t, smp, rate, callerStart, moved.Add(300*time.Millisecond), waiting)
	if d := e2e.ActiveDuration(queued, rate); d < 700*time.Millisecond {
		t.Errorf("the transferred caller heard %s of sound in the queue: want the hold tone, not silence", d)
	}
	if lvl := e2e.ToneLevel(queued, rate, holdHz); lvl < 0.01 {
		t.Errorf("the transferred caller does not hear the hold tone (level %.4f)", lvl)
	}
	bobHearsCaller(t, bob, end.Sub(bobStart))
}
