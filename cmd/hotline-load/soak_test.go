package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDrawPlanIsSeededAndFollowsTheMix(t *testing.T) {
	cfg := defaultSoakConfig(false)
	draw := func(seed uint64, n int) []callPlan {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		out := make([]callPlan, n)
		for i := range out {
			out[i] = drawPlan(rng, cfg)
		}
		return out
	}
	const n = 20000
	a, b, c := draw(42, n), draw(42, n), draw(43, n)
	same, quick, slow := 0, 0, 0
	var count [numKinds]int
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("plan %d differs with the same seed: %+v vs %+v", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
		p := a[i]
		count[p.Kind]++
		switch p.Kind {
		case kindAbandon:
			if p.NoAnswers >= 0 || p.Abandon < 50*time.Millisecond || p.Abandon > 3*cfg.RingTimeout || p.RingDelay >= 400*time.Millisecond {
				t.Errorf("abandon plan %+v: no agent may answer and the caller must leave within 3 ring timeouts", p)
			}
			if p.Abandon < 250*time.Millisecond {
				quick++
			}
			if p.RingDelay > 0 {
				slow++
			}
		case kindNoAnswer:
			if p.NoAnswers < 1 || p.NoAnswers > 2 {
				t.Errorf("no-answer plan %+v: 1 or 2 offers must ring out", p)
			}
		case kindHoldCaller, kindHoldAgent:
			if p.HoldAt <= 0 || p.HoldFor <= 0 || p.HoldAt+p.HoldFor >= p.Talk {
				t.Errorf("hold plan %+v: hold and unhold must fall inside the talk time", p)
			}
		default:
			if p.NoAnswers != 0 {
				t.Errorf("plan %+v: every offer must be answered", p)
			}
		}
		if p.Kind != kindAbandon && p.RingDelay != 0 {
			t.Errorf("plan %+v: only phones that never answer are slow to ring", p)
		}
		if p.Kind != kindAbandon && (p.Talk < 200*time.Millisecond || p.Talk > cfg.TalkMax) {
			t.Errorf("plan %+v: talk time outside 0.2 s..%s", p, cfg.TalkMax)
		}
	}
	if same > n/100 {
		t.Errorf("%d of %d plans equal with another seed", same, n)
	}
	if ab := count[kindAbandon]; quick < ab/20 || quick > ab/5 || slow < ab/5 || slow > ab/2 {
		t.Errorf("of %d abandons, %d hang up at once (want about 10%%) and %d ring on slow phones (want about 33%%)", ab, quick, slow)
	}
	for k := range numKinds {
		got := 100 * float64(count[k]) / n
		if d := got - float64(kindWeights[k]); d > 1.5 || d < -1.5 {
			t.Errorf("%s: %.1f%% of the calls, want about %d%%", callKind(k), got, kindWeights[k])
		}
	}
}

func TestParsePromText(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
hotline_rtp_legs 3
hotline_calls_active{hotline="1900"} 2
hotline_calls_active{hotline="1901",queue="a b}c"} 5
go_gc_duration_seconds_count 7
go_memstats_heap_inuse_bytes 1.2e+07
broken_line{
`
	m := parsePromText([]byte(text))
	for name, want := range map[string]float64{"go_goroutines": 42, "hotline_rtp_legs": 3, "hotline_calls_active": 7,
		"go_gc_duration_seconds_count": 7, "go_memstats_heap_inuse_bytes": 12e6} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	if _, ok := m["broken_line"]; ok {
		t.Error("a line without a value was read")
	}
}

func TestRTPSocketsOfAProcess(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	n, err := rtpSockets(os.Getpid(), port, port)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d sockets of this process on port %d, want 1", n, port)
	}
	fds, err := countFDs(os.Getpid())
	if err != nil || fds < 4 {
		t.Errorf("countFDs = %d, %v; want stdin, stdout, stderr and the socket at least", fds, err)
	}
	c.Close()
	if n, _ := rtpSockets(os.Getpid(), port, port); n != 0 {
		t.Errorf("%d sockets on port %d after closing it, want 0", n, port)
	}
	if _, err := parseProcNetUDP([]byte("header\n 1: 0100007F 00000000:0000 07 0:0 0:0 0 0 0 12 2 0 0\n")); err == nil {
		t.Error("a local address without a port was accepted")
	}
}

// Datagrams a socket of this process could not take (its receive buffer
// full, nobody reading) are counted as its drops.
func TestUDPDropsOfAProcess(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := rx.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	before, err := udpDrops(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	pkt := make([]byte, 1000)
	for range 200 { // far more than 4 KiB (doubled by the kernel) holds
		_, _ = tx.Write(pkt)
	}
	after, err := udpDrops(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 100 {
		t.Errorf("drops went from %d to %d after 200 datagrams into a 4 KiB buffer nobody reads", before, after)
	}
}

func TestParseHotlineLog(t *testing.T) {
	log := `{"time":"t","level":"INFO","msg":"incoming call","call_id":"c1"}
{"time":"t","level":"INFO","msg":"call ended","call_id":"c1","cause":"caller hung up","outcome":"answered","agent":"a00001"}
{"time":"t","level":"INFO","msg":"call ended","call_id":"c2","cause":"caller hung up","outcome":"abandoned"}
{"time":"t","level":"INFO","msg":"call ended","call_id":"c2","cause":"caller hung up","outcome":"abandoned"}
{"time":"t","level":"WARN","msg":"agent BYE","call_id":"c3"}
{"time":"t","level":"WARN","msg":"agent BYE","call_id":"c4"}
panic: runtime error: index out of range [3] with length 3

goroutine 7 [running]:
`
	ls, err := parseHotlineLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if got := ls.CDRs["c1"]; len(got) != 1 || got[0].Outcome != "answered" || got[0].Agent != "a00001" {
		t.Errorf("c1 CDRs = %+v", got)
	}
	if got := ls.CDRs["c2"]; len(got) != 2 {
		t.Errorf("c2 has %d CDRs, want the 2 logged", len(got))
	}
	if ls.Messages["WARN agent BYE"] != 2 || ls.Levels["INFO"] != 4 {
		t.Errorf("messages %v, levels %v", ls.Messages, ls.Levels)
	}
	if len(ls.Panics) != 2 || !strings.HasPrefix(ls.Panics[0], "panic: runtime error") {
		t.Errorf("panics = %q", ls.Panics)
	}
}

// writeRecording stores a call record (and a WAV of wavBytes, if >= 0)
// the way Hotline's file backend does.
func writeRecording(t *testing.T, dir, callID string, wavBytes int, complete bool) {
	t.Helper()
	base := filepath.Join(dir, "recordings", "2026", "11", "30", callID)
	if err := os.MkdirAll(filepath.Dir(base), 0o750); err != nil {
		t.Fatal(err)
	}
	end := ""
	if complete {
		end = `,"end":"2026-11-30T10:00:05Z"`
	}
	rec := fmt.Sprintf(`{"call_id":%q,"start":"2026-11-30T10:00:00Z"%s,"stats":{"dropped":2}}`, callID, end)
	if err := os.WriteFile(base+".json", []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	if wavBytes >= 0 {
		if err := os.WriteFile(base+".wav", testWAV(wavBytes, 44), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// testWAV is a 16-bit stereo 8 kHz WAV file of size bytes whose samples
// (zeros) start at dataOff: with dataOff > 44 a chunk fills the gap, as
// the call record chunk of Hotline's recordings does.
func testWAV(size, dataOff int) []byte {
	b := make([]byte, max(size, dataOff))
	le := binary.LittleEndian
	copy(b, "RIFF")
	le.PutUint32(b[4:], uint32(len(b)-8))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1)     // PCM
	le.PutUint16(b[22:], 2)     // channels
	le.PutUint32(b[24:], 8000)  // rate
	le.PutUint32(b[28:], 32000) // byte rate
	le.PutUint16(b[32:], 4)     // block align
	le.PutUint16(b[34:], 16)    // bits
	if dataOff > 44 {
		copy(b[36:], "hrec")
		le.PutUint32(b[40:], uint32(dataOff-52))
	}
	copy(b[dataOff-8:], "data")
	le.PutUint32(b[dataOff-4:], uint32(len(b)-dataOff))
	return b
}

func TestRecStoreFindsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeRecording(t, dir, "ok1", 1000, true)
	writeRecording(t, dir, "nowav", -1, true)
	writeRecording(t, dir, "empty", 44, true)
	writeRecording(t, dir, "emptychunk", 0, true)
	if err := os.WriteFile(filepath.Join(dir, "recordings", "2026", "11", "30", "emptychunk.wav"), testWAV(4096, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	writeRecording(t, dir, "cut", 1000, false)
	orphan := filepath.Join(dir, "recordings", "2026", "11", "30", "orphan.wav")
	if err := os.WriteFile(orphan, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newRecStore(dir)
	s.scan(time.Hour, true) // everything too recent: nothing read yet
	if s.records != 0 {
		t.Fatalf("%d records read before they were old enough", s.records)
	}
	s.scan(0, true)
	if s.records != 5 || s.dropped != 10 {
		t.Errorf("records %d dropped %d, want 5 and 10", s.records, s.dropped)
	}
	if ri := s.seen["ok1"]; ri == nil || !ri.Complete || ri.WavBytes != 1000 {
		t.Errorf("ok1: %+v", ri)
	}
	want := []string{"nowav: call record without its WAV", "empty: WAV without audio", "emptychunk: WAV without audio", "cut: call record without an end",
		"orphan.wav: WAV without a call record"}
	all := strings.Join(s.problems, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems lack %q:\n%s", w, all)
		}
	}
	if len(s.problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(s.problems), len(want), all)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings", "2026", "11", "30", "ok1.wav")); err == nil {
		t.Error("a checked recording was not removed")
	}
}

// soakFixture is a run where everything went right: two bridged calls,
// one abandon.
func soakFixture(t *testing.T) (*soakResults, *recStore) {
	t.Helper()
	dir := t.TempDir()
	cfg := defaultSoakConfig(true)
	cfg.Agents, cfg.Seed = 10, 99
	r := &soakResults{Cfg: cfg, HotlineAlive: true, HotlinePID: 1234, Started: time.Now(), Finished: time.Now()}
	base := snapshot{At: time.Now(), Goroutines: 100, FDs: 20, RSS: 64 << 20, HeapInuse: 20 << 20, AgentsAvailable: 10}
	r.Baseline, r.End = base, base
	r.Ledger = []ledgerEntry{
		{N: 1, CallID: "call-1", Kind: kindTalk, Sent: true, Final: 200, Bridged: true, HungUpBy: "caller"},
		{N: 2, CallID: "call-2", Kind: kindHoldAgent, Sent: true, Final: 200, Bridged: true, Reinvites: 2, ReinvOK: 2},
		{N: 3, CallID: "call-3", Kind: kindAbandon, Sent: true, Final: 487, Cancelled: true},
	}
	r.Log = logSummary{CDRs: map[string][]cdr{"call-1": {{Outcome: "answered"}}, "call-2": {{Outcome: "answered"}},
		"call-3": {{Outcome: "abandoned"}}}, Levels: map[string]int{"INFO": 9}, Messages: map[string]int{}}
	writeRecording(t, dir, "call-1", 1000, true)
	writeRecording(t, dir, "call-2", 1000, true)
	s := newRecStore(dir)
	s.scan(0, true)
	return r, s
}

func failed(cs []checkResult) []string {
	var out []string
	for _, c := range cs {
		if !c.Pass {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestEvaluatePassesACleanRun(t *testing.T) {
	r, s := soakFixture(t)
	cs := r.evaluate(s)
	if f := failed(cs); len(f) > 0 {
		t.Errorf("failed checks on a clean run: %v", f)
	}
	if len(cs) < 11 {
		t.Errorf("%d checks, want at least 11", len(cs))
	}
}

func TestEvaluateNamesTheCallsThatWentWrong(t *testing.T) {
	r, s := soakFixture(t)
	r.End.Goroutines += goroutineTol(r.Baseline.Goroutines) + 1
	r.End.FDs += fdTol + 1
	r.End.RTPSockets = 2
	r.End.RSS += rssTol(r.Baseline.RSS) + 1
	r.End.HeapInuse += heapTol(r.Baseline.HeapInuse) + 1
	r.End.AgentsAvailable = 9
	r.Ledger = append(r.Ledger,
		ledgerEntry{N: 4, CallID: "call-4-no-cdr", Kind: kindTalk, Sent: true, Final: 200, Bridged: true},
		ledgerEntry{N: 5, CallID: "call-5-abandon", Kind: kindAbandon, Sent: true, ByeQueued: true})
	r.Log.CDRs["call-5-abandon"] = []cdr{{Outcome: "answered", Cause: "caller hung up"}}
	r.Log.CDRs["stranger"] = []cdr{{Outcome: "failed"}}
	r.AgentNotCancelled, r.StrayAgentLegs = 1, 1
	r.Uncancelled = []agentLegRef{{CallID: "agent-x", Token: "b3"}}
	r.StrayLegs = []agentLegRef{{CallID: "agent-y", Token: "b77"}}
	r.AgentNoAck, r.NoAckLegs = 1, []agentLegRef{{CallID: "agent-z", Token: "b1"}}
	writeRecording(t, s.dir, "call-5-abandon", 1000, true)
	s.scan(0, true)
	cs := r.evaluate(s)
	f := strings.Join(failed(cs), "\n")
	for _, want := range []string{"goroutines", "file descriptors", "RTP port", "VmRSS", "live heap", "exactly one call record",
		"what the callers did", "recording", "agents all available"} {
		if !strings.Contains(f, want) {
			t.Errorf("no failed check about %q; failed:\n%s", want, f)
		}
	}
	var buf bytes.Buffer
	r.Checks = cs
	r.writeSoakReport(&buf)
	rep := buf.String()
	for _, want := range []string{"**Result: FAIL**", "seed **99**", "no CDR: call-4-no-cdr", "CDR of a call the driver did not place: stranger",
		`outcome "answered" (cause "caller hung up"), want "abandoned": call-5-abandon`, "no recording: call-4-no-cdr",
		"recording of a call never bridged: call-5-abandon", "hotline-load soak -seed 99",
		"offer never cancelled (the agent's phone rang on after Hotline gave up): agent Call-ID agent-x, caller's call call-3 (call 3, abandon",
		"agent leg never hung up by Hotline: agent Call-ID agent-y, caller's call call b77 (not in the ledger)",
		"agent's 200 OK never ACKed by Hotline (the agent answered into silence): agent Call-ID agent-z, caller's call call-1 (call 1, talk"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestEvaluateCountsFailedCalls(t *testing.T) {
	r, s := soakFixture(t)
	r.Ledger[0].Err = "INVITE answered 503"
	cs := r.evaluate(s)
	if f := failed(cs); len(f) == 0 || f[0] != "calls went as planned" {
		t.Fatalf("failed checks %v, want the calls check", f)
	}
	if d := strings.Join(cs[1].Details, "\n"); !strings.Contains(d, "1x INVITE answered 503: call-1") {
		t.Errorf("details %q do not name the call", d)
	}
}

func TestSoakRefusesABadDuration(t *testing.T) {
	t.Setenv("SOAK_DURATION", "forever")
	var out, errb bytes.Buffer
	if code := run([]string{"soak"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "SOAK_DURATION") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming SOAK_DURATION", code, errb.String())
	}
	t.Setenv("SOAK_DURATION", "")
	if code := run([]string{"soak", "-rate", "100000"}, &out, &errb); code != 2 {
		t.Errorf("-rate 100000: exit %d, want 2", code)
	}
}

func TestStuckRingOutsAreCountedOnce(t *testing.T) {
	g := &loadGen{}
	g.ringing.Store("old", ringingOffer{tok: "b1", since: time.Now().Add(-time.Minute)})
	g.ringing.Store("new", ringingOffer{tok: "b2", since: time.Now()})
	if n := g.stuckRingOuts(30 * time.Second); n != 1 {
		t.Errorf("%d stuck offers, want the one ringing for a minute", n)
	}
	if n := g.stuckRingOuts(30 * time.Second); n != 0 {
		t.Errorf("%d stuck offers the second time, want 0", n)
	}
	_, unc, _ := g.legRefs()
	if len(unc) != 1 || unc[0] != (agentLegRef{CallID: "old", Token: "b1"}) || g.agentNotCancelled.Load() != 1 {
		t.Errorf("uncancelled %v, count %d", unc, g.agentNotCancelled.Load())
	}
}
