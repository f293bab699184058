package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/internal/e2e"
	"hotline/recording"
)

// TestE2EOverloadShedsNewCallsOnly drives a real Hotline past saturation
// through its injected signal (sip.overload.pressure_file; the measured
// signals are off so the busy test machine cannot decide for it): while it
// sheds, new SIPp callers get 503 with Retry-After before any RTP port is
// taken, the call already in progress keeps its audio flowing and its BYE
// is answered, and an agent's REGISTER is answered.
func TestE2EOverloadShedsNewCallsOnly(t *testing.T) {
	skipShort(t)
	pressure := filepath.Join(t.TempDir(), "pressure")
	a := startApp(t, func(c *Config) {
		o := &c.SIP.Overload
		o.PressureFile = pressure
		o.SchedulingLag, o.SocketBacklog, o.CPU, o.RecorderDrops = -1, -1, -1, -1
		o.Interval, o.Confirm, o.Hold = 20*time.Millisecond, 1, 0
	})
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	rec := e2e.NewUDPRecorder(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The call in progress: SIPp signals, its media goes to rec; it
	// hangs up (BYE) after 8 s.
	inProgress := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP("", 8*time.Second).WithMediaPort(rec.Port()),
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("agent never had the call: %v", err)
	}
	if err := rec.WaitPackets(ctx, 5); err != nil {
		t.Fatalf("caller got no RTP before overload: %v", err)
	}

	if err := os.WriteFile(pressure, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "shedding", func() bool {
		return a.metric(t, "hotline_overload_shedding", nil) == 1
	})
	portsBefore := a.sip.Ports().InUse()
	offeredBefore := a.metric(t, "hotline_calls_offered_total", nil)
	packetsBefore := rec.Stats().Packets

	// New callers are refused.
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACExpectStatus(503),
		Calls:    5,
		Rate:     10,
	})
	res.RequireCalls(t, 5, 0)
	if got := inviteStatus(t, a); got.status != 503 || got.retryAfter != "5" {
		t.Errorf("new INVITE while overloaded got %d with Retry-After %q, want 503 with the configured 5", got.status, got.retryAfter)
	}
	waitCount(t, "hotline_calls_refused_total{reason=pressure}", 6, func() float64 {
		return a.metric(t, "hotline_calls_refused_total", map[string]string{"reason": "pressure"})
	})
	if got := a.metric(t, "hotline_calls_offered_total", nil); got != offeredBefore {
		t.Errorf("refused calls were offered to a queue: %v, was %v", got, offeredBefore)
	}
	if got := a.sip.Ports().InUse(); got != portsBefore {
		t.Errorf("refused calls took RTP ports: %d in use, was %d", got, portsBefore)
	}

	// An agent's REGISTER is answered (sippRegister requires 401 then 200).
	sippRegister(ctx, t, a, "bob", e2e.FreeUDPTCPPort(t))

	// The call in progress still flows (one second of 20 ms packets more)
	// and its BYE is answered (SIPp counts the call successful only then).
	if err := rec.WaitPackets(ctx, packetsBefore+50); err != nil {
		t.Fatalf("the call in progress stopped flowing while overloaded: %v (%+v)", err, rec.Stats())
	}
	done, err := inProgress.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done.RequireCalls(t, 1, 0)
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("agent leg not torn down by the caller's BYE: %v", err)
	}

	// Pressure gone: calls are admitted again.
	if err := os.WriteFile(pressure, []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "shedding over", func() bool {
		return a.metric(t, "hotline_overload_shedding", nil) == 0
	})
	after := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP("", time.Second),
	})
	after.RequireCalls(t, 1, 0)
	waitIdle(t, a)
}

type inviteResult struct {
	status     int
	retryAfter string
}

// inviteStatus sends one new INVITE over UDP and returns its final
// response (only used while Hotline sheds: no call is started).
func inviteStatus(t *testing.T, a *testApp) inviteResult {
	t.Helper()
	return inviteStatusAt(t, a.sipAddr("udp"))
}

// inviteStatusAt is inviteStatus to the SIP UDP address addr (a node or
// the edge in front of them).
func inviteStatusAt(t *testing.T, addr string) inviteResult {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("overload-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1900", Host: host, Port: p})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "1900", Host: host}})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "0911000111", Host: "127.0.0.1"}, Params: params("tag", sip.GenerateTagN(8))})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "0911000111", Host: "127.0.0.1", Port: 5997}})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"))
	res, err := client.Do(ctx, req)
	if err != nil {
		t.Fatalf("INVITE: %v", err)
	}
	r := inviteResult{status: res.StatusCode}
	if h := res.GetHeader("Retry-After"); h != nil {
		r.retryAfter = h.Value()
	}
	return r
}

// TestE2ERecordsHeldRefusesNewCalls: when neither the records backend nor
// its spool can keep a call's records (both directories unwritable), they
// are held in memory and Hotline answers new INVITEs 503 with Retry-After
// (sip.overload.records_held) instead of piling up records a restart
// would lose; once the directories are back the held records are stored
// (the call is in the history) and calls are admitted again.
func TestE2ERecordsHeldRefusesNewCalls(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		o := &c.SIP.Overload
		o.Interval, o.Confirm, o.Hold = 20*time.Millisecond, 1, 0
		o.RecordsHeld = 1 // at the first record held (default: 50,000)
	})
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := agent.WaitEvent(ctx, e2e.EventRegisterOK); err != nil {
		t.Fatal(err)
	}
	// The agent's login (login_on_register) is a record too: stored
	// before the directories go, or it alone is held and the test call
	// is refused (the flush interval is 200ms; a busy CI machine once
	// took longer between the registration and the directories' loss).
	if err := a.records.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if held := a.records.Held(); held != 0 {
		t.Fatalf("records held before the directories went: %+v", a.records.Stats())
	}

	// The records' directories become files: every write there fails.
	dirs := []string{a.cfg.Records.File.Dir, a.cfg.Records.SpoolDir}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP("", time.Second),
	}).RequireCalls(t, 1, 0)
	waitFor(t, 10*time.Second, "shedding on the held records", func() bool {
		return a.metric(t, "hotline_overload_shedding", nil) == 1
	})
	if held := a.records.Held(); held == 0 {
		t.Fatalf("shedding, but the store holds no record: %+v", a.records.Stats())
	}
	if got, up := a.metric(t, "hotline_records_held", nil), a.metric(t, "hotline_records_backend_up", nil); got < 1 || up != 0 {
		t.Errorf("hotline_records_held = %v, hotline_records_backend_up = %v: want the held records shown, the backend down", got, up)
	}
	if got := inviteStatus(t, a); got.status != 503 || got.retryAfter != "5" {
		t.Errorf("new INVITE while records are held got %d with Retry-After %q, want 503 with 5", got.status, got.retryAfter)
	}
	// The door process's refusals reach the metrics through its ring.
	waitFor(t, 2*time.Second, "hotline_calls_refused_total{reason=records_held} to count the refused INVITE", func() bool {
		return a.metric(t, "hotline_calls_refused_total", map[string]string{"reason": "records_held"}) >= 1
	})

	// The directories are back: the held records are stored at the next
	// flush, and new calls are admitted again.
	for _, d := range dirs {
		if err := os.Remove(d); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "shedding over", func() bool {
		return a.metric(t, "hotline_overload_shedding", nil) == 0
	})
	var page struct {
		Calls []struct {
			CallID  string `json:"call_id"`
			Outcome string `json:"outcome"`
		} `json:"calls"`
	}
	waitFor(t, 10*time.Second, "the held call in the history", func() bool {
		page.Calls = nil
		return httpJSON(t, "GET", a.apiURL("/api/v1/history/calls?agent=alice"), "", &page) == 200 && len(page.Calls) == 1
	})
	waitFor(t, 10*time.Second, "hotline_records_held back to 0", func() bool {
		return a.metric(t, "hotline_records_held", nil) == 0
	})
	if page.Calls[0].Outcome != "answered" {
		t.Errorf("the held call's record: %+v, want answered", page.Calls[0])
	}
	e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP("", time.Second),
	}).RequireCalls(t, 1, 0)
	waitIdle(t, a)
}

// TestE2ESpoolFreeRefusesNewCalls: with less free space on the recording
// spool's file system than sip.overload.spool_free_mb (here a floor no
// disk has), new INVITEs get 503 with Retry-After: such a call could
// not be recorded in full. With a policy that records no call the floor
// does not apply and the call is answered.
func TestE2ESpoolFreeRefusesNewCalls(t *testing.T) {
	skipShort(t)
	const noDiskHasThat = 1 << 30 // MiB: a pebibyte
	a := startApp(t, func(c *Config) {
		o := &c.SIP.Overload
		o.Interval, o.Confirm, o.Hold = 20*time.Millisecond, 1, 0
		o.SpoolFreeMB = noDiskHasThat
	})
	waitFor(t, 10*time.Second, "shedding on the spool's free space", func() bool {
		return a.metric(t, "hotline_overload_shedding", nil) == 1
	})
	if got := inviteStatus(t, a); got.status != 503 || got.retryAfter != "5" {
		t.Errorf("new INVITE with the spool under its floor got %d with Retry-After %q, want 503 with 5", got.status, got.retryAfter)
	}
	waitCount(t, "hotline_calls_refused_total{reason=spool_free}", 1, func() float64 {
		return a.metric(t, "hotline_calls_refused_total", map[string]string{"reason": "spool_free"})
	})

	none := 0.0
	b := startApp(t, func(c *Config) {
		o := &c.SIP.Overload
		o.Interval, o.Confirm, o.Hold = 20*time.Millisecond, 1, 0
		o.SpoolFreeMB = noDiskHasThat
		c.Recording.Policy = recording.Policy{Percent: &none}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   b.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP("", time.Second),
	}).RequireCalls(t, 1, 0)
	if got := b.metric(t, "hotline_calls_refused_total", map[string]string{"reason": "spool_free"}); got != 0 {
		t.Errorf("recording nothing, hotline_calls_refused_total{reason=spool_free} = %v, want 0", got)
	}
	waitIdle(t, b)
}
