package main

// End-to-end tests of blind transfers to an outside number: SIPp is the
// outbound gateway (a UAS on loopback whose RTP is a UDPRecorder that
// records what it gets and sends its own tone back), a baresip agent
// sends the REFER (its transfer command), a SIPp caller's RTP is another
// UDPRecorder.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/metrics"
	"hotline/routing/acd"
	"hotline/sip"
)

const (
	gatewayHz  = 1300.0 // what the outside party sends
	ringbackHz = 425.0  // Hotline's ringback tone
)

// outsideNumber is the number the agent transfers to (+84: allowed).
const outsideNumber = "+84912345678"

// startOutsideApp is startTransferApp with the outbound gateway at
// gateway, allowed to call +84 numbers, and the history written at once.
func startOutsideApp(t *testing.T, gateway string, wrapUp time.Duration) *testApp {
	t.Helper()
	return startTransferApp(t, wrapUp, func(c *Config) {
		c.SIP.Outbound = sip.Outbound{Gateway: gateway, From: "1900", AllowedPrefixes: []string{"+84"},
			RingTimeout: 10 * time.Second}
		c.Records.FlushInterval = 50 * time.Millisecond
		c.SIP.SetDefaults()
		if err := c.SIP.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

// sippCaller starts a SIPp caller of the hotline whose RTP goes to and
// comes from rec; it waits (up to 60 s) for Hotline's BYE.
func sippCaller(t *testing.T, a *testApp, rec *e2e.UDPRecorder) *e2e.SIPp {
	t.Helper()
	return e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912345678",
		Scenario: e2e.UACRemoteBye("", 60*time.Second).WithMediaPort(rec.Port()),
		Timeout:  90 * time.Second,
	})
}

// talks makes rec send a tone of hz back to whoever sends it RTP, once
// something arrives, for d (in the background, until ctx ends).
func talks(ctx context.Context, t *testing.T, rec *e2e.UDPRecorder, hz float64, d time.Duration) {
	t.Helper()
	if err := rec.WaitPackets(ctx, 5); err != nil {
		t.Fatalf("no RTP to send %v Hz back to: %v", hz, err)
	}
	go func() { _ = rec.SendTone(ctx, netip.AddrPort{}, hz, d, e2e.PayloadPCMU) }()
}

// outsideCall is a call of the hotline that alice answered, on a Hotline
// whose outbound gateway is gw: the caller (SIPp, RTP to and from
// callerRec) talks callerHz once Hotline's audio reaches it; id is the
// call's id.
type outsideCall struct {
	a         *testApp
	alice     *e2e.Baresip
	caller    *e2e.SIPp
	callerRec *e2e.UDPRecorder
	id        string
}

// startOutsideCall starts Hotline (startOutsideApp), alice and the caller,
// waits for alice to take the call and has the caller talk for talk.
func startOutsideCall(ctx context.Context, t *testing.T, gw *e2e.SIPp, wrapUp, talk time.Duration) outsideCall {
	t.Helper()
	a := startOutsideApp(t, gw.Addr(), wrapUp)
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	callerRec := e2e.NewUDPRecorder(t)
	caller := sippCaller(t, a, callerRec)
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("alice did not get the call: %v", err)
	}
	id := callIDOf(t, a, "msg=bridged")
	talks(ctx, t, callerRec, callerHz, talk)
	return outsideCall{a: a, alice: alice, caller: caller, callerRec: callerRec, id: id}
}

// gatewayInvites are the Request-URIs of the INVITEs in SIPp's trace.
func gatewayInvites(t *testing.T, p *e2e.SIPp) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.Dir(), "*_messages.log"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if uri, ok := strings.CutPrefix(strings.TrimSpace(line), "INVITE "); ok {
				out = append(out, strings.TrimSuffix(uri, " SIP/2.0"))
			}
		}
	}
	return out
}

// historyRow is a call of GET /api/v1/history/calls.
type historyRow struct {
	CallID    string          `json:"call_id"`
	Agent     string          `json:"agent"`
	Outcome   string          `json:"outcome"`
	Cause     string          `json:"cause"`
	Legs      json.RawMessage `json:"legs"`
	Transfers json.RawMessage `json:"transfers"`
}

// historyCall waits for call id in the history (the file backend).
func historyCall(t *testing.T, a *testApp, id string) historyRow {
	t.Helper()
	var found historyRow
	waitFor(t, 10*time.Second, "the call in the history", func() bool {
		var page struct {
			Calls []historyRow `json:"calls"`
		}
		if code := httpJSON(t, "GET", a.apiURL("/api/v1/history/calls?agent=alice"), "", &page); code != 200 {
			return false
		}
		for _, c := range page.Calls {
			if c.CallID == id {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// TestE2EOutsideTransfer: alice (baresip) blind-transfers her SIPp caller
// to +84912345678: SIPp, the gateway, gets an INVITE for exactly that
// number, rings 1 s and answers; alice's phone is told (NOTIFY 200) and
// taken off the call;
// the caller hears ringback, then the outside party's tone, and the
// outside party the caller's (media through Hotline). The outside party
// hangs up: the caller gets Hotline's BYE. The history row lists alice,
// then the outside leg, and the blind transfer to the number.
func TestE2EOutsideTransfer(t *testing.T) {
	skipShort(t)
	gwRec := e2e.NewUDPRecorder(t)
	gw := e2e.StartSIPp(t, e2e.SIPpOptions{
		Scenario: e2e.UASAnswer(e2e.UASAnswerOptions{Ring: time.Second, HangupAfter: 6 * time.Second}).WithMediaPort(gwRec.Port()),
		Timeout:  90 * time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	// The caller talks to whoever is on the line.
	oc := startOutsideCall(ctx, t, gw, 0, 40*time.Second)
	a, alice, caller, callerRec, id := oc.a, oc.alice, oc.caller, oc.callerRec, oc.id
	time.Sleep(time.Second)
	transferred := len(callerRec.Samples())
	if _, err := alice.Command(ctx, "transfer", "sip:"+outsideNumber+"@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	// baresip closes its call "Call transfered" on the NOTIFY whose
	// sipfrag says 200: the outside party answered and alice was told.
	if ev, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("alice's phone was not taken off the call: %v", err)
	} else if ev.Param != "Call transfered" {
		t.Errorf("alice's call closed with %q, want baresip's \"Call transfered\" (NOTIFY 200 received)", ev.Param)
	}
	// The outside party answers (after 1 s of ringing) and gets the
	// caller's audio; it talks back.
	talks(ctx, t, gwRec, gatewayHz, 4*time.Second)
	from := len(callerRec.Samples())
	whileRinging := callerRec.Samples()[transferred:from]
	time.Sleep(3 * time.Second)
	heardByCaller := callerRec.Samples()[from:]

	gres, err := gw.Wait(ctx) // the outside party hung up after 6 s
	if err != nil {
		t.Fatal(err)
	}
	gres.RequireCalls(t, 1, 0)
	cres, err := caller.Wait(ctx) // and the caller got Hotline's BYE
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	waitIdle(t, a)

	want := fmt.Sprintf("sip:%s@%s", outsideNumber, gw.Addr())
	if uris := gatewayInvites(t, gw); len(uris) != 1 || uris[0] != want {
		t.Errorf("the gateway got INVITEs for %q, want one for %s", uris, want)
	}
	all := []float64{callerHz, agentHz, gatewayHz, ringbackHz}
	if got := e2e.DominantTone(whileRinging, 8000, all); got != ringbackHz {
		t.Errorf("while the outside number rang the caller heard %v Hz, want Hotline's ringback %v Hz", got, ringbackHz)
	}
	if len(heardByCaller) < 8000 {
		t.Fatalf("the caller got %d samples while the outside party talked, want 1 s or more", len(heardByCaller))
	}
	if got := e2e.DominantTone(heardByCaller, 8000, all); got != gatewayHz {
		t.Errorf("the caller heard %v Hz, want the outside party's %v Hz", got, gatewayHz)
	}
	if got := e2e.DominantTone(gwRec.Samples(), 8000, all); got != callerHz {
		t.Errorf("the outside party heard %v Hz, want the caller's %v Hz", got, callerHz)
	}
	if line := lastLine(a.logs.String(), "call ended: transfer"); !strings.Contains(line, "outside="+outsideNumber) ||
		!strings.Contains(line, "target=number:"+outsideNumber) {
		t.Errorf("Hotline's record of the call: %q, want the transfer to and the leg with %s", line, outsideNumber)
	}
	row := historyCall(t, a, id)
	if got, want := string(row.Legs), `[{"role":"agent","agent":"alice"},{"role":"outside","number":"`+outsideNumber+`"}]`; got != want {
		t.Errorf("history legs %s, want %s", got, want)
	}
	if !strings.Contains(string(row.Transfers), `"kind":"blind"`) || !strings.Contains(string(row.Transfers), `"by":"alice"`) ||
		!strings.Contains(string(row.Transfers), `"target":"number:`+outsideNumber+`"`) {
		t.Errorf("history transfers %s, want alice's blind transfer to number:%s", row.Transfers, outsideNumber)
	}
	if row.Cause != "outside party hung up" || row.Outcome != "answered" {
		t.Errorf("history cause %q outcome %q, want outside party hung up, answered", row.Cause, row.Outcome)
	}
	if got := counter(t, a, metrics.NameTransfers, map[string]string{"kind": "blind", "target": "number", "outcome": "completed"}); got != 1 {
		t.Errorf("completed blind transfers to a number: %v, want 1", got)
	}

	// One recording: the caller on the left throughout, on the right
	// alice, then the outside party (it talked for 4 s from its answer,
	// and hung up 6 s after it).
	var wavs []string
	waitFor(t, 15*time.Second, "the call's recording stored", func() bool {
		wavs = storedFiles(t, a.cfg.Recording.File.Dir)
		return len(wavs) >= 1
	})
	if len(wavs) != 1 {
		t.Fatalf("recordings %v, want one for the transferred call", wavs)
	}
	if rec := readRecord(t, wavs[0]); rec.CallID != id || rec.Extra["outside_number"] != outsideNumber {
		t.Errorf("recording's call record: call %s extra %v, want call %s with outside_number %s", rec.CallID, rec.Extra, id, outsideNumber)
	}
	left, _, err := e2e.ReadWAVChannel(wavs[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(wavs[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	n := len(right)
	if n < 8000*8 {
		t.Fatalf("recording is %d samples, want over 8 s", n)
	}
	if got := e2e.DominantTone(left, 8000, all); got != callerHz {
		t.Errorf("left channel carries %v Hz, want the caller's %v Hz", got, callerHz)
	}
	if got := e2e.DominantTone(right[n-44000:n-20000], 8000, all); got != gatewayHz {
		t.Errorf("right channel 5.5-2.5 s before the end carries %v Hz, want the outside party's %v Hz", got, gatewayHz)
	}
}

// TestE2EOutsideTransferBusy: the gateway answers 486: alice's phone is
// told so (NOTIFY) and taken off the call (she is in wrap-up); the
// caller is not dropped but goes back to the general queue ahead of a
// caller who was waiting there before, so carol, arriving, gets the
// transferred caller first and the caller hears her; the transfer counts
// as returned.
func TestE2EOutsideTransferBusy(t *testing.T) {
	skipShort(t)
	gw := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASRespond(486), Timeout: 90 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	oc := startOutsideCall(ctx, t, gw, 30*time.Second, 40*time.Second) // alice takes no call after transferring
	a, alice, caller, callerRec, first := oc.a, oc.alice, oc.caller, oc.callerRec, oc.id
	other := e2e.StartBaresip(t, e2e.BaresipOptions{User: "0911111111", ToneHz: callerHz})
	if err := other.Dial(ctx, "sip:1900@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("the second caller was not answered (hold music): %v", err)
	}

	if _, err := alice.Command(ctx, "transfer", "sip:"+outsideNumber+"@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	// The NOTIFY told alice's phone (baresip: "transfer failure", after
	// which it hangs up; Hotline hangs her leg up too).
	if ev, err := alice.WaitEvent(ctx, "TRANSFER_FAILED"); err != nil {
		t.Fatalf("alice's phone was not told the transfer failed: %v", err)
	} else if !strings.HasPrefix(ev.Param, "486") {
		t.Errorf("alice's phone was told %q, want the gateway's 486", ev.Param)
	}
	waitFor(t, 10*time.Second, "the caller back in the queue, alice off the call and in wrap-up", func() bool {
		live := a.liveCalls(t)
		return strings.Contains(lastLine(a.logs.String(), "outside number not reached"), "call_id="+first) &&
			len(live) == 2 && live[0].Agent == "" && live[1].Agent == "" && agentState(a, "alice") == acd.StateWrapUp
	})

	carol := startAgent(t, a, "carol", e2e.BaresipOptions{ToneHz: supervisorHz, AutoAnswer: true})
	if _, err := carol.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("carol got no call: %v", err)
	}
	if got := callIDOf(t, a, "agent=carol caller_codec"); got != first { // the "bridged" line
		t.Errorf("carol got call %s, want the transferred call %s back first in line", got, first)
	}
	from := len(callerRec.Samples())
	time.Sleep(2 * time.Second)
	heard := callerRec.Samples()[from:]
	if got := e2e.DominantTone(heard, 8000, []float64{callerHz, agentHz, supervisorHz, ringbackHz}); got != supervisorHz {
		t.Errorf("the transferred caller heard %v Hz, want carol's %v Hz", got, supervisorHz)
	}
	if err := carol.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	cres, err := caller.Wait(ctx) // the caller was never dropped: carol's hang-up ends the call
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	_ = other.Hangup(ctx)
	waitIdle(t, a)
	gres := gw.Stop()
	if uris := gatewayInvites(t, gw); len(uris) != 1 || !strings.HasPrefix(uris[0], "sip:"+outsideNumber+"@") {
		t.Errorf("the gateway got INVITEs for %q, want one for %s\n%s", uris, outsideNumber, gres.Diagnostics(40))
	}
	if got := counter(t, a, metrics.NameTransfers, map[string]string{"kind": "blind", "target": "number", "outcome": "returned"}); got != 1 {
		t.Errorf("returned transfers to a number: %v, want 1", got)
	}
}

// TestE2EOutsideTransferAPI: POST /api/v1/calls/{id}/transfer
// {"to":"number:+84..."} calls the number through the gateway like a
// REFER: alice's phone is hung up, the outside party (SIPp) answers and
// hangs up later (meanwhile GET /api/v1/calls lists the call with its
// outside number), the caller gets the BYE, and the history has the api
// transfer and the outside leg.
func TestE2EOutsideTransferAPI(t *testing.T) {
	skipShort(t)
	gwRec := e2e.NewUDPRecorder(t)
	gw := e2e.StartSIPp(t, e2e.SIPpOptions{
		Scenario: e2e.UASAnswer(e2e.UASAnswerOptions{HangupAfter: 3 * time.Second}).WithMediaPort(gwRec.Port()),
		Timeout:  90 * time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	oc := startOutsideCall(ctx, t, gw, 0, 30*time.Second)
	a, alice, caller, id := oc.a, oc.alice, oc.caller, oc.id
	var e struct {
		Code string `json:"code"`
	}
	url := a.apiURL("/api/v1/calls/" + id + "/transfer")
	if code := httpJSON(t, "POST", url, `{"to": "number:+1900555000"}`, &e); code != 403 || e.Code != "forbidden" {
		t.Errorf("POST transfer to a number outside the allowed prefixes: %d %q, want 403 forbidden", code, e.Code)
	}
	var st struct {
		To string `json:"to"`
	}
	if code := httpJSON(t, "POST", url, `{"to": "number:`+outsideNumber+`"}`, &st); code != 200 || st.To != "number:"+outsideNumber {
		t.Fatalf("POST transfer: %d %+v, want 200 number:%s", code, st, outsideNumber)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("alice's phone was not hung up: %v", err)
	}
	if err := gwRec.WaitPackets(ctx, 25); err != nil {
		t.Fatalf("the outside party got no audio: %v", err)
	}
	// GET /api/v1/calls shows the call with its outside party (and no
	// agent) while they talk.
	if live := a.liveCalls(t); len(live) != 1 || live[0].CallID != id || live[0].Outside != outsideNumber || live[0].Agent != "" {
		t.Errorf("GET /api/v1/calls while the outside party talks: %+v, want call %s with outside %s and no agent", live, id, outsideNumber)
	}
	gres, err := gw.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gres.RequireCalls(t, 1, 0)
	cres, err := caller.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	waitIdle(t, a)
	if got := e2e.DominantTone(gwRec.Samples(), 8000, []float64{callerHz, agentHz, ringbackHz}); got != callerHz {
		t.Errorf("the outside party heard %v Hz, want the caller's %v Hz", got, callerHz)
	}
	row := historyCall(t, a, id)
	if !strings.Contains(string(row.Transfers), `"kind":"api"`) || !strings.Contains(string(row.Legs), `"number":"`+outsideNumber+`"`) {
		t.Errorf("history transfers %s legs %s, want the api transfer and the outside leg", row.Transfers, row.Legs)
	}
}

// earlyHz is what the outside party's early media (its ringback or an
// announcement, before it answers) sends.
const earlyHz = 2000.0

// TestE2EOutsideTransferEarlyMedia: the gateway (SIPp,
// testdata/sipp/gateway-early-media.xml) answers alice's blind transfer
// to +84912345678 with 180, then 183 Session Progress with SDP, and
// sends early media (a 2000 Hz announcement) for 3 s before its 200 OK:
// the caller hears that announcement, not Hotline's ringback, then the
// outside party once it answers (1300 Hz), and the outside party hears
// the caller. The transfer completes as without early media.
func TestE2EOutsideTransferEarlyMedia(t *testing.T) {
	skipShort(t)
	gwRec := e2e.NewUDPRecorder(t)
	gw := e2e.StartSIPp(t, e2e.SIPpOptions{
		Scenario: sippScenario(t, "gateway-early-media").WithMediaPort(gwRec.Port()),
		Timeout:  90 * time.Second,
	})
	a := startOutsideApp(t, gw.Addr(), 0)
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	callerRec := e2e.NewUDPRecorder(t)
	caller := sippCaller(t, a, callerRec)

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("alice did not get the call: %v", err)
	}
	id := callIDOf(t, a, "msg=bridged")
	talks(ctx, t, callerRec, callerHz, 40*time.Second)
	time.Sleep(500 * time.Millisecond)
	if _, err := alice.Command(ctx, "transfer", "sip:"+outsideNumber+"@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Hotline taking the gateway's early media", func() bool {
		return strings.Contains(lastLine(a.logs.String(), "early media from the outside party"), "call_id="+id)
	})
	// The far end plays its announcement to whoever sends it RTP: the
	// caller's audio reaches it through Hotline already.
	talks(ctx, t, gwRec, earlyHz, 2500*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	from := len(callerRec.Samples())
	time.Sleep(1500 * time.Millisecond)
	early := callerRec.Samples()[from:]
	if strings.Contains(a.logs.String(), "bridged with the outside party") {
		t.Fatal("the outside party answered before the early-media window ended; the test cannot tell early media from the answer")
	}
	waitFor(t, 10*time.Second, "the outside party's answer", func() bool {
		return strings.Contains(a.logs.String(), "bridged with the outside party")
	})
	time.Sleep(500 * time.Millisecond) // the announcement has ended
	go func() { _ = gwRec.SendTone(ctx, netip.AddrPort{}, gatewayHz, 3*time.Second, e2e.PayloadPCMU) }()
	time.Sleep(300 * time.Millisecond)
	from = len(callerRec.Samples())
	time.Sleep(2 * time.Second)
	answered := callerRec.Samples()[from:]

	gres, err := gw.Wait(ctx) // the outside party hangs up 4 s after its answer
	if err != nil {
		t.Fatal(err)
	}
	gres.RequireCalls(t, 1, 0)
	cres, err := caller.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	waitIdle(t, a)

	all := []float64{callerHz, agentHz, gatewayHz, ringbackHz, earlyHz}
	if len(early) < 8000 {
		t.Fatalf("the caller got %d samples during the early media, want 1 s or more", len(early))
	}
	if got := e2e.DominantTone(early, 8000, all); got != earlyHz {
		t.Errorf("while the outside number rang with early media the caller heard %v Hz, want the far end's %v Hz (not Hotline's ringback %v Hz)",
			got, earlyHz, ringbackHz)
	}
	if got := e2e.DominantTone(answered, 8000, all); got != gatewayHz {
		t.Errorf("once answered the caller heard %v Hz, want the outside party's %v Hz", got, gatewayHz)
	}
	if got := e2e.DominantTone(gwRec.Samples(), 8000, all); got != callerHz {
		t.Errorf("the outside party heard %v Hz, want the caller's %v Hz", got, callerHz)
	}
	if got := counter(t, a, metrics.NameTransfers, map[string]string{"kind": "blind", "target": "number", "outcome": "completed"}); got != 1 {
		t.Errorf("completed blind transfers to a number: %v, want 1", got)
	}
	row := historyCall(t, a, id)
	if got, want := string(row.Legs), `[{"role":"agent","agent":"alice"},{"role":"outside","number":"`+outsideNumber+`"}]`; got != want {
		t.Errorf("history legs %s, want %s", got, want)
	}
}
