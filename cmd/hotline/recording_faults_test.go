package main

// Fault end-to-end tests of call recording (issue 4): the object store
// goes away during calls, Hotline is killed mid-call, the bucket is
// missing or the credentials are wrong. In every case the calls go on as
// usual and no recording is lost.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"hotline/internal/e2e"
	"hotline/internal/miniotest"
	"hotline/internal/proctest"
	"hotline/recording"
)

// liveCall is one entry of GET /api/v1/calls.
type liveCall struct {
	CallID  string `json:"call_id"`
	Agent   string `json:"agent"`
	Outside string `json:"outside"`
}

// spooledRecords reads the call records of the recordings in the spool
// directory: a finished one's .json, or the record a recording in
// progress (or cut short) carries in its WAV (the spool holds one file
// per recording until Finish).
func spooledRecords(t *testing.T, dir string) []recording.CallRecord {
	t.Helper()
	var out []recording.CallRecord
	for _, p := range spoolFiles(t, dir) {
		if filepath.Ext(p) != ".wav" {
			continue
		}
		rec, err := recording.ReadSpooledRecord(p)
		if err != nil {
			raw, _ := os.ReadFile(strings.TrimSuffix(p, ".wav") + ".json")
			t.Fatalf("spooled call record of %s: %v\n%s", p, err, raw)
		}
		out = append(out, rec)
	}
	return out
}

// getObject downloads an object of the test bucket.
func getObject(t *testing.T, cl *minio.Client, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obj, err := cl.GetObject(ctx, testBucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	raw, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return raw
}

// storedRecord downloads and decodes the call record stored beside the
// recording at wavKey.
func storedRecord(t *testing.T, cl *minio.Client, wavKey string) recording.CallRecord {
	t.Helper()
	raw := getObject(t, cl, strings.TrimSuffix(wavKey, ".wav")+".json")
	var rec recording.CallRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("call record of %s: %v\n%s", wavKey, err, raw)
	}
	return rec
}

// storedWAV downloads the recording at key into a temporary file and
// returns its path and its channels.
func storedWAV(t *testing.T, cl *minio.Client, key string) (path string, left, right []int16) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "rec.wav")
	if err := os.WriteFile(path, getObject(t, cl, key), 0o600); err != nil {
		t.Fatal(err)
	}
	left, info, err := e2e.ReadWAVChannel(path, 0)
	if err != nil {
		t.Fatalf("recording %s: %v", key, err)
	}
	right, _, err = e2e.ReadWAVChannel(path, 1)
	if err != nil {
		t.Fatalf("recording %s: %v", key, err)
	}
	if info.Channels != 2 || info.Rate != 8000 {
		t.Fatalf("recording %s is %+v, want 8 kHz stereo", key, info)
	}
	return path, left, right
}

// TestE2ERecordingFaultMinIOOutage: three calls are bridged to three
// agents; the object store stops while they talk. The calls complete as
// usual, their recordings wait in the spool (visible in the backlog) while
// the store is down, and once it is back every recording and call record
// arrives in the bucket under the call's id and the spool empties.
func TestE2ERecordingFaultMinIOOutage(t *testing.T) {
	skipShort(t)
	const calls = 3
	m := miniotest.Start(t)
	a := startApp(t, func(c *Config) { useMinIO(c, m) })
	var agents []*e2e.Baresip
	for _, user := range []string{"alice", "bob", "carol"} {
		agents = append(agents, startAgent(t, a, user, e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := minioClient(t, m)

	// A first call is stored as usual: the bucket is in use when the
	// store goes away.
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0911000111",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, time.Second), time.Second),
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)
	for _, ag := range agents { // move the event cursor of whoever took it past the call
		if ag.HasEvent(e2e.EventCallEstablished) {
			if _, err := ag.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatalf("%s's first call: %v", ag.AOR, err)
			}
		}
	}
	var before []string
	waitFor(t, 15*time.Second, "the first call's recording in the bucket", func() bool {
		before = objects(t, cl)
		return len(before) == 2
	})

	p := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:     a.sipAddr("udp"),
		Service:    "1900",
		Caller:     "0911000111",
		Scenario:   e2e.UACPlayPCAP(tonePCAP(t, 4*time.Second), 5*time.Second),
		Calls:      calls,
		Rate:       10,
		Concurrent: calls,
	})
	for _, ag := range agents {
		if _, err := ag.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			t.Fatalf("%s never got a call: %v", ag.AOR, err)
		}
	}
	var live []liveCall
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/calls"), "", &live); code != 200 || len(live) != calls {
		t.Fatalf("GET /api/v1/calls: %d %+v, want %d calls", code, live, calls)
	}
	agentOf := map[string]string{}
	for _, c := range live {
		if c.CallID == "" || c.Agent == "" {
			t.Fatalf("live call %+v without id or agent", c)
		}
		agentOf[c.CallID] = c.Agent
	}

	// The store goes away while the calls are in progress.
	m.Stop()
	if n := a.sip.ActiveCalls(); n != calls {
		t.Fatalf("MinIO took too long to stop: only %d of the %d calls still in progress", n, calls)
	}

	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, calls, 0)
	for _, ag := range agents {
		if _, err := ag.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatalf("%s's call not torn down: %v", ag.AOR, err)
		}
		if tone, active := heard(t, ag); tone != callerHz || active < 3*time.Second {
			t.Errorf("%s heard %v Hz for %s, want the caller's %v Hz for about 4 s", ag.AOR, tone, active, callerHz)
		}
	}
	waitIdle(t, a)

	// All three recordings wait in the spool, and the backlog says why.
	var bl recording.Backlog
	waitFor(t, 15*time.Second, "failed uploads of all three recordings in the backlog", func() bool {
		bl = a.recordings.Backlog()
		return bl.Files == calls && bl.Recording == 0 && bl.Failures > 0 && bl.LastError != ""
	})
	if bl.Uploaded != 1 {
		t.Errorf("backlog %+v: want only the first call uploaded while the store was down", bl)
	}
	var apiBL recording.Backlog
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/recordings/backlog"), "", &apiBL); code != 200 || apiBL.Files != calls || apiBL.LastError == "" {
		t.Errorf("GET /api/v1/recordings/backlog: %d %+v, want %d files and the last error", code, apiBL, calls)
	}
	// One file per call: the WAV, carrying its final call record (with
	// the s3 backend no .json is spooled; the record is uploaded from it).
	if files := spoolFiles(t, a.cfg.Recording.SpoolDir); len(files) != calls {
		t.Errorf("spool holds %v while the store is down, want the WAV of each call", files)
	}
	keyOf := map[string]string{}
	for _, rec := range spooledRecords(t, a.cfg.Recording.SpoolDir) {
		if _, ok := agentOf[rec.CallID]; !ok || rec.End.IsZero() {
			t.Errorf("spooled call record %+v: not one of the finished calls %v", rec, agentOf)
		}
		keyOf[rec.CallID] = rec.Key
	}
	if len(keyOf) != calls {
		t.Fatalf("spool holds the records of %v, want the %d calls %v", keyOf, calls, agentOf)
	}
	t.Logf("while the store was down: %+v", bl)

	// The store comes back: everything arrives, nothing stays behind.
	m.Restart(t)
	var keys []string
	waitFor(t, 20*time.Second, "every recording in the bucket and an empty spool", func() bool {
		keys = objects(t, cl)
		return len(keys) == len(before)+2*calls && len(spoolFiles(t, a.cfg.Recording.SpoolDir)) == 0
	})
	want := slices.Clone(before)
	for _, key := range keyOf {
		want = append(want, key, strings.TrimSuffix(key, ".wav")+".json")
	}
	slices.Sort(want)
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Fatalf("bucket holds %v, want %v", keys, want)
	}
	for id, key := range keyOf {
		rec := storedRecord(t, cl, key)
		if rec.CallID != id || rec.Agent != agentOf[id] || rec.Caller != "0911000111" || rec.End.IsZero() || rec.Recovered {
			t.Errorf("stored call record %+v, want call %s answered by %s", rec, id, agentOf[id])
		}
		_, left, right := storedWAV(t, cl, key)
		if got := e2e.DominantTone(left, 8000, tones); got != callerHz {
			t.Errorf("%s: left channel carries %v Hz, want the caller's %v Hz", key, got, callerHz)
		}
		if got := e2e.DominantTone(right, 8000, tones); got != agentHz {
			t.Errorf("%s: right channel carries %v Hz, want the agent's %v Hz", key, got, agentHz)
		}
	}
	if bl := a.recordings.Backlog(); bl.Files != 0 || bl.Uploaded != 1+calls || bl.ConsecutiveFailures != 0 {
		t.Errorf("backlog after the store came back: %+v", bl)
	}
}

// wavFile is what checkWAV found in a WAV file.
type wavFile struct {
	format, channels, bits uint16
	rate                   uint32
	frames                 int64
}

// checkWAV parses a canonical WAV file strictly: every size in the header
// must match the file (RIFF size, data chunk size, fact frame count).
func checkWAV(t *testing.T, raw []byte) wavFile {
	t.Helper()
	le := binary.LittleEndian
	var w wavFile
	if len(raw) < 12 || string(raw[0:4]) != "RIFF" || string(raw[8:12]) != "WAVE" {
		t.Fatalf("not a RIFF/WAVE file (%d bytes)", len(raw))
	}
	if got := int(le.Uint32(raw[4:])); got != len(raw)-8 {
		t.Fatalf("RIFF size %d, want file size - 8 = %d", got, len(raw)-8)
	}
	var blockAlign uint16
	fact := int64(-1)
	for off := 12; ; {
		if off+8 > len(raw) {
			t.Fatal("no data chunk")
		}
		id, size := string(raw[off:off+4]), int(le.Uint32(raw[off+4:]))
		body := raw[off+8:]
		switch id {
		case "fmt ":
			if size < 16 || size > len(body) {
				t.Fatalf("fmt chunk of %d bytes", size)
			}
			w.format, w.channels = le.Uint16(body[0:]), le.Uint16(body[2:])
			w.rate = le.Uint32(body[4:])
			byteRate := le.Uint32(body[8:])
			blockAlign, w.bits = le.Uint16(body[12:]), le.Uint16(body[14:])
			if want := w.channels * w.bits / 8; blockAlign != want || byteRate != w.rate*uint32(blockAlign) {
				t.Fatalf("fmt: block align %d, byte rate %d inconsistent with %d channels of %d bits at %d Hz",
					blockAlign, byteRate, w.channels, w.bits, w.rate)
			}
		case "fact":
			fact = int64(le.Uint32(body))
		case "data":
			if size != len(body) {
				t.Fatalf("data chunk announces %d bytes, the file holds %d after its header", size, len(body))
			}
			if blockAlign == 0 || size%int(blockAlign) != 0 {
				t.Fatalf("data chunk of %d bytes is not whole frames of %d bytes", size, blockAlign)
			}
			w.frames = int64(size / int(blockAlign))
			if fact >= 0 && fact != w.frames {
				t.Fatalf("fact chunk says %d frames, data holds %d", fact, w.frames)
			}
			return w
		}
		off += 8 + size + size%2
	}
}

// s3ProcessConfig is the configuration of a Hotline process
// (startProcess) listening for SIP (UDP) on addr, with RTP ports of its
// own, recording through spool to the bucket of m; rest holds the other
// top-level sections (hotlines, agents, api, ...).
func s3ProcessConfig(t *testing.T, addr, spool string, m *miniotest.Server, rest string) string {
	rtpMin, rtpMax := proctest.FreeUDPRange(t, 200)
	return fmt.Sprintf(`
sip:
  listen:
    - {transport: udp, addr: "%s"}
rtp: {ip: 127.0.0.1, port_min: %d, port_max: %d}
recording:
  backend: s3
  spool_dir: %s
  upload: {min_backoff: 200ms, max_backoff: 1s}
  s3:
    endpoint: "%s"
    bucket: %s
    access_key: %s
    secret_key: %s
    create_bucket: true
`, addr, rtpMin, rtpMax, spool, m.Endpoint, testBucket, miniotest.AccessKey, miniotest.SecretKey) + rest
}

// TestE2ERecordingFaultSIGKILL: Hotline (a real process, recording to
// MinIO) is killed with SIGKILL while a call is bridged. Restarted on the
// same configuration, it repairs the recording cut short in its spool and
// uploads it: a valid stereo 8 kHz WAV of about the time the call ran
// before the kill, the caller on the left and the agent on the right, with
// a call record marked recovered.
func TestE2ERecordingFaultSIGKILL(t *testing.T) {
	skipShort(t)
	m := miniotest.Start(t)
	addr := "127.0.0.1:" + freeSIPPort(t)
	spool := filepath.Join(t.TempDir(), "spool")
	config := s3ProcessConfig(t, addr, spool, m, `
queue: {login_on_register: true}
hotlines: [{number: "1900"}]
agents: [{username: alice, password: alice-secret}]
api: {listen: "127.0.0.1:0"}
metrics: {listen: "127.0.0.1:0"}
`)

	first := startProcess(t, config)
	agent := e2e.StartBaresip(t, e2e.BaresipOptions{User: "alice", Password: "alice-secret", Registrar: addr, ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := agent.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	caller := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   addr,
		Service:  "1900",
		Caller:   "0922333444",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 15*time.Second), 16*time.Second),
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("call not established: %v", err)
	}
	bridged := time.Now()
	time.Sleep(4 * time.Second)
	first.kill(t)
	killed := time.Now()
	caller.Stop() // its call is gone with the process

	// The spool holds the recording cut short: a call record without end.
	recs := spooledRecords(t, spool)
	if len(recs) != 1 || recs[0].CallID == "" || !recs[0].End.IsZero() {
		t.Fatalf("spool after SIGKILL holds records %+v, want one of a call in progress", recs)
	}
	cut := recs[0]
	if cut.Agent != "alice" || cut.Caller != "0922333444" {
		t.Errorf("spooled call record %+v, want caller 0922333444 and agent alice", cut)
	}

	second := startProcess(t, config)
	cl := minioClient(t, m)
	var keys []string
	waitFor(t, 20*time.Second, "the recovered recording and its call record in the bucket", func() bool {
		keys = objects(t, cl)
		return len(keys) == 2 && len(spoolFiles(t, spool)) == 0
	})
	want := []string{cut.Key, strings.TrimSuffix(cut.Key, ".wav") + ".json"}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("bucket holds %v, want %v", keys, want)
	}

	// A valid WAV: every header size matches the data.
	raw := getObject(t, cl, cut.Key)
	w := checkWAV(t, raw)
	if w.format != 1 || w.bits != 16 || w.channels != 2 || w.rate != 8000 {
		t.Fatalf("recovered recording: format %d, %d bits, %d channels, %d Hz; want 16-bit PCM stereo 8 kHz",
			w.format, w.bits, w.channels, w.rate)
	}
	// It holds the call up to shortly before the kill: audio still in the
	// writer's buffer (up to a second) and the jitter window are lost.
	got := time.Duration(w.frames) * time.Second / 8000
	ran := killed.Sub(bridged)
	t.Logf("bridged for %s before SIGKILL; recovered recording: %s", ran.Round(time.Millisecond), got)
	if got < ran-2*time.Second || got > ran+time.Second {
		t.Errorf("recovered recording lasts %s, the call was bridged for %s before the kill", got, ran)
	}
	path := filepath.Join(t.TempDir(), "recovered.wav")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
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
	if tone := e2e.DominantTone(left, 8000, tones); tone != callerHz {
		t.Errorf("left channel carries %v Hz, want the caller's %v Hz", tone, callerHz)
	}
	if active := e2e.ActiveDuration(left, 8000); active < got-500*time.Millisecond {
		t.Errorf("caller's tone lasts %s of the %s recovered, want all of it", active, got)
	}
	if tone := e2e.DominantTone(right, 8000, tones); tone != agentHz {
		t.Errorf("right channel carries %v Hz, want the agent's %v Hz", tone, agentHz)
	}

	// Its call record says it was recovered, and where the audio stops.
	rec := storedRecord(t, cl, cut.Key)
	if !rec.Recovered || rec.CallID != cut.CallID || rec.Agent != "alice" || rec.Frames != w.frames ||
		rec.End.IsZero() || !rec.End.Equal(rec.Start.Add(got)) {
		t.Errorf("stored call record %+v, want call %s recovered with %d frames ending at start + %s", rec, cut.CallID, w.frames, got)
	}
	info, err := cl.StatObject(ctx, testBucket, cut.Key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if md := info.UserMetadata; md["Recovered"] != "true" || md["Call-Id"] != cut.CallID {
		t.Errorf("object metadata %v, want recovered and the call id", md)
	}
	if !strings.Contains(second.logs.String(), "recovered recording cut short") {
		t.Errorf("restarted hotline did not log the recovery:\n%s", tail(second.logs.String(), 40))
	}

	second.stop(t)
}

// TestE2ERecordingFaultStoreRefuses: when the bucket does not exist (and
// Hotline may not create it) or the credentials are wrong, a call is still
// answered, bridged and heard as usual; its recording stays in the spool,
// and the log and the backlog say clearly what is wrong.
func TestE2ERecordingFaultStoreRefuses(t *testing.T) {
	skipShort(t)
	m := miniotest.Start(t)
	cl := minioClient(t, m)
	for _, tc := range []struct {
		name   string
		mutate func(s *recording.S3Config)
		// want are words the error must contain (any case).
		want []string
	}{
		{
			name: "bucket missing",
			mutate: func(s *recording.S3Config) {
				s.Bucket = "no-such-recordings"
				s.CreateBucket = false
			},
			want: []string{"no-such-recordings", "does not exist", "create_bucket"},
		},
		{
			name:   "wrong credentials",
			mutate: func(s *recording.S3Config) { s.SecretKey = "not-the-secret" },
			want:   []string{testBucket, "access denied", "credentials", "s3.secret_key"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, func(c *Config) {
				useMinIO(c, m)
				tc.mutate(&c.Recording.S3)
			})
			agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
				Target:   a.sipAddr("udp"),
				Service:  "1900",
				Scenario: e2e.UACPlayPCAP(tonePCAP(t, 2*time.Second), 3*time.Second),
			})
			res.RequireCalls(t, 1, 0)
			if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatal(err)
			}
			if tone, active := heard(t, agent); tone != callerHz || active < time.Second {
				t.Errorf("agent heard %v Hz for %s, want the caller's %v Hz", tone, active, callerHz)
			}
			waitIdle(t, a)

			var bl recording.Backlog
			waitFor(t, 15*time.Second, "a failed upload in the backlog", func() bool {
				bl = a.recordings.Backlog()
				return bl.Files == 1 && bl.Failures > 0 && bl.LastError != ""
			})
			t.Logf("last error: %s", bl.LastError)
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(bl.LastError), strings.ToLower(w)) {
					t.Errorf("backlog's last error %q does not mention %q", bl.LastError, w)
				}
			}
			var logLine string
			for _, l := range strings.Split(a.logs.String(), "\n") {
				if strings.Contains(l, "recording upload failed") {
					logLine = l
					break
				}
			}
			if logLine == "" {
				t.Fatal("no \"recording upload failed\" in Hotline's log")
			}
			if !strings.Contains(logLine, "level=WARN") && !strings.Contains(logLine, "level=ERROR") {
				t.Errorf("upload failure logged below warning: %s", logLine)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(logLine), strings.ToLower(w)) {
					t.Errorf("log line %q does not mention %q", logLine, w)
				}
			}
			recs := spooledRecords(t, a.cfg.Recording.SpoolDir)
			if files := spoolFiles(t, a.cfg.Recording.SpoolDir); len(files) != 1 || len(recs) != 1 || recs[0].End.IsZero() {
				t.Errorf("spool holds %v (records %+v), want the finished call's WAV with its final record", files, recs)
			}
			if bl.Uploaded != 0 {
				t.Errorf("backlog %+v: an upload succeeded", bl)
			}
			bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
			defer bcancel()
			buckets, err := cl.ListBuckets(bctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range buckets {
				if b.Name == "no-such-recordings" {
					t.Error("the bucket was created although create_bucket is false")
				}
			}
			if keys := objects(t, cl); len(keys) != 0 {
				t.Errorf("bucket %s holds %v", testBucket, keys)
			}
		})
	}
}
