package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// These tests validate the harness against the real peers only (no
// Hotline): baresip to baresip, SIPp to baresip, SIPp to SIPp, and baresip
// registering to a minimal sipgo registrar.

func wantTone(t *testing.T, who string, samples []int16, rate int, want float64) {
	t.Helper()
	cands := []float64{440, 1000}
	got := DominantTone(samples, rate, cands)
	t.Logf("%s: %d samples at %d Hz, 440 Hz level %.3f, 1000 Hz level %.3f, active %v",
		who, len(samples), rate, ToneLevel(samples, rate, 440), ToneLevel(samples, rate, 1000), ActiveDuration(samples, rate))
	if got != want {
		t.Errorf("%s heard %v Hz, want %v Hz", who, got, want)
	}
	if d := ActiveDuration(samples, rate); d < 400*time.Millisecond {
		t.Errorf("%s heard only %v of audio, want at least 400ms", who, d)
	}
}

func onlyRecording(t *testing.T, b *Baresip) []int16 {
	t.Helper()
	files := b.ReceivedWAVs()
	if len(files) != 1 {
		t.Fatalf("%s: want 1 recording of received audio, got %v", b.AOR, files)
	}
	s, rate, err := ReadWAV(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if rate != G711Rate {
		t.Fatalf("%s: recording rate %d, want %d", b.AOR, rate, G711Rate)
	}
	return s
}

// (a) baresip A calls baresip B directly; each hears the other's tone.
func TestBaresipCallsBaresip(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := StartBaresip(t, BaresipOptions{User: "a", ToneHz: 440, Record: true})
	b := StartBaresip(t, BaresipOptions{User: "b", ToneHz: 1000, Record: true, AutoAnswer: true})

	if err := a.Dial(ctx, b.AOR); err != nil {
		t.Fatal(err)
	}
	// No CALL_INCOMING on b: baresip 1.0.0 does not report it for calls
	// it answers itself (answermode=auto).
	for _, p := range []*Baresip{a, b} {
		if _, err := p.WaitEvent(ctx, EventCallEstablished); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*Baresip{a, b} {
		if _, err := p.WaitEvent(ctx, EventCallRTPEstab); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // let audio flow both ways
	if err := a.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Baresip{a, b} {
		if _, err := p.WaitEvent(ctx, EventCallClosed); err != nil {
			t.Fatal(err)
		}
	}
	wantTone(t, "a", onlyRecording(t, a), G711Rate, 1000)
	wantTone(t, "b", onlyRecording(t, b), G711Rate, 440)
}

// (b) a SIPp caller replays a 1000 Hz capture to a baresip that answers
// after a delay and records.
func TestSIPpPlaysToneToBaresip(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pcap := filepath.Join(t.TempDir(), "tone1000.pcap")
	if err := WriteTonePCAP(pcap, 1000, time.Second, PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	b := StartBaresip(t, BaresipOptions{User: "agent", Record: true, AutoAnswer: true, AnswerDelay: 200 * time.Millisecond})

	res := RunSIPp(ctx, t, SIPpOptions{
		Target:   fmt.Sprintf("%s:%d", Loopback, b.SIPPort),
		Service:  "agent",
		Scenario: UACPlayPCAP(pcap, 1500*time.Millisecond),
	})
	res.RequireCalls(t, 1, 0)
	if res.ExitCode != SIPpExitAllOK {
		t.Errorf("sipp exit code %d", res.ExitCode)
	}
	ev, err := b.WaitEvent(ctx, EventCallClosed)
	if err != nil {
		t.Fatal(err)
	}
	if !b.HasEvent(EventCallIncoming) || !b.HasEvent(EventCallEstablished) {
		t.Errorf("baresip events lack incoming/established: %v", b.Events())
	}
	t.Logf("closed: %q", ev.Param)
	wantTone(t, "baresip", onlyRecording(t, b), G711Rate, 1000)
}

// UDPRecorder as the media end of a SIPp caller: it records what baresip
// sends and sends a tone back that baresip records.
func TestUDPRecorderWithSIPpSignalling(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := NewUDPRecorder(t)
	b := StartBaresip(t, BaresipOptions{User: "agent", ToneHz: 440, Record: true, AutoAnswer: true})

	sipp := StartSIPp(t, SIPpOptions{
		Target:   fmt.Sprintf("%s:%d", Loopback, b.SIPPort),
		Service:  "agent",
		Scenario: UACPlayPCAP("", 2*time.Second).WithMediaPort(rec.Port()),
	})
	if err := rec.WaitPackets(ctx, 5); err != nil {
		t.Fatal(err)
	}
	// Symmetric RTP: answer to where baresip sends from.
	if err := rec.SendTone(ctx, netip.AddrPort{}, 1000, time.Second, PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	res, err := sipp.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	if _, err := b.WaitEvent(ctx, EventCallClosed); err != nil {
		t.Fatal(err)
	}
	st := rec.Stats()
	t.Logf("recorder: %+v", st)
	if st.PayloadTypes[PayloadPCMU] == 0 || st.Invalid != 0 || st.SSRCs != 1 {
		t.Errorf("recorder stats %+v: want PCMU only, one SSRC", st)
	}
	wantTone(t, "recorder", rec.Samples(), G711Rate, 440)
	wantTone(t, "baresip", onlyRecording(t, b), G711Rate, 1000)
}

// (c) SIPp callers against SIPp callees: the scenario builders agree with
// each other and the result counts are parsed.
func TestSIPpScenarios(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		uas, uac Scenario
	}{
		{"reject 486", UASRespond(486), UACExpectStatus(486)},
		{"cancel", UASRingNoAnswer(), UACCancelAfter(200 * time.Millisecond)},
		{"caller hangs up", UASAnswer(UASAnswerOptions{Ring: 100 * time.Millisecond}), UACPlayPCAP("", 200*time.Millisecond)},
		{"callee hangs up", UASAnswer(UASAnswerOptions{HangupAfter: 200 * time.Millisecond}), UACRemoteBye("", 5*time.Second)},
		{"tcp", UASRespond(404), UACExpectStatus(404)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			tr := "u1"
			if c.name == "tcp" {
				tr = "t1"
			}
			uas := StartSIPp(t, SIPpOptions{Scenario: c.uas, Calls: 2, Transport: tr})
			res := RunSIPp(ctx, t, SIPpOptions{
				Target:    uas.Addr(),
				Service:   "100",
				Scenario:  c.uac,
				Calls:     2,
				Transport: tr,
			})
			res.RequireCalls(t, 2, 0)
			ures, err := uas.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ures.RequireCalls(t, 2, 0)
			if res.ExitCode != SIPpExitAllOK || ures.ExitCode != SIPpExitAllOK {
				t.Errorf("exit codes uac %d uas %d", res.ExitCode, ures.ExitCode)
			}
		})
	}
}

// A scenario whose expectation is not met is reported as a failed call.
func TestSIPpReportsFailure(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	uas := StartSIPp(t, SIPpOptions{Scenario: UASRespond(486)})
	res := RunSIPp(ctx, t, SIPpOptions{
		Target:   uas.Addr(),
		Service:  "100",
		Scenario: UACExpectStatus(404),
	})
	if res.Stats.Failed != 1 || res.Stats.Successful != 0 || res.ExitCode != SIPpExitSomeFailed {
		t.Errorf("want 1 failed call and exit 1, got %s", res)
	}
}

// baresip with Reject answers 486, seen by a SIPp caller.
func TestBaresipRejects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b := StartBaresip(t, BaresipOptions{User: "busy", Reject: true})
	res := RunSIPp(ctx, t, SIPpOptions{
		Target:   fmt.Sprintf("%s:%d", Loopback, b.SIPPort),
		Service:  "busy",
		Scenario: UACExpectStatus(486),
	})
	res.RequireCalls(t, 1, 0)
}

// (d) baresip registers to a minimal sipgo registrar over UDP and TCP.
func TestBaresipRegisters(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			addr, registers := startRegistrar(t, tr)
			b := StartBaresip(t, BaresipOptions{User: "alice", Password: "secret", Registrar: addr, Transport: tr})
			if err := b.WaitRegistered(ctx); err != nil {
				t.Fatal(err)
			}
			if registers.Load() == 0 {
				t.Error("registrar saw no REGISTER")
			}
			if b.AOR != "sip:alice@"+addr {
				t.Errorf("AOR %q", b.AOR)
			}
		})
	}
}

// startRegistrar serves REGISTER with 200 (no authentication) on a free
// loopback port and returns its address and a REGISTER counter.
func startRegistrar(t *testing.T, network string) (string, *atomic.Int64) {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		n.Add(1)
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		if c := req.Contact(); c != nil {
			res.AppendHeader(sip.NewHeader("Contact", c.Value()+";expires=600"))
		}
		_ = tx.Respond(res)
	})
	var addr string
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", Loopback+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		go func() { _ = srv.ServeUDP(pc) }()
	case "tcp":
		l, err := net.Listen("tcp4", Loopback+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		go func() { _ = srv.ServeTCP(l) }()
	}
	t.Cleanup(func() { _ = srv.Close() })
	return addr, &n
}

// baresip calls SIPp callees: one busy, one that answers, plays a tone and
// hangs up.
func TestBaresipCallsSIPp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pcap := filepath.Join(t.TempDir(), "tone440.pcap")
	if err := WriteTonePCAP(pcap, 440, time.Second, PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	busy := StartSIPp(t, SIPpOptions{Scenario: UASRespond(486)})
	answer := StartSIPp(t, SIPpOptions{Scenario: UASAnswer(UASAnswerOptions{
		Ring: 100 * time.Millisecond, PlayPCAP: pcap, HangupAfter: 1500 * time.Millisecond,
	})})
	b := StartBaresip(t, BaresipOptions{User: "caller", ToneHz: 1000, Record: true})

	if err := b.Dial(ctx, "sip:busy@"+busy.Addr()); err != nil {
		t.Fatal(err)
	}
	ev, err := b.WaitEvent(ctx, EventCallClosed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("busy: CALL_CLOSED %q", ev.Param)
	if res, err := busy.Wait(ctx); err != nil {
		t.Fatal(err)
	} else {
		res.RequireCalls(t, 1, 0)
	}

	if err := b.Dial(ctx, "sip:agent@"+answer.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, EventCallRinging); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	ev, err = b.WaitEvent(ctx, EventCallClosed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("answered: CALL_CLOSED %q", ev.Param)
	res, err := answer.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	wantTone(t, "baresip", onlyRecording(t, b), G711Rate, 440)
}
