package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"hotline/internal/e2e"
	"hotline/internal/miniotest"
	"hotline/recording"
)

const testBucket = "hotline-recordings"

func useMinIO(c *Config, m *miniotest.Server) {
	c.Recording.Backend = recording.BackendS3
	c.Recording.S3 = recording.S3Config{
		Endpoint:     m.Endpoint,
		Bucket:       testBucket,
		AccessKey:    miniotest.AccessKey,
		SecretKey:    miniotest.SecretKey,
		CreateBucket: true,
	}
	c.Recording.Upload.MinBackoff = 200 * time.Millisecond
	c.Recording.Upload.MaxBackoff = time.Second
}

func minioClient(t *testing.T, m *miniotest.Server) *minio.Client {
	t.Helper()
	cl, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(miniotest.AccessKey, miniotest.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// objects lists the bucket's keys (nil while the bucket does not exist).
func objects(t *testing.T, cl *minio.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var keys []string
	for o := range cl.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return nil
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func wavKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasSuffix(k, ".wav") {
			out = append(out, k)
		}
	}
	return out
}

// TestE2ERecordingInMinIO: a SIPp caller sends a 1000 Hz tone, a baresip
// agent a 440 Hz tone; after the call the recording is in the bucket with
// its call record, the caller's tone on the left channel and the agent's
// on the right, for as long as each was sent.
func TestE2ERecordingInMinIO(t *testing.T) {
	skipShort(t)
	m := miniotest.Start(t)
	a := startApp(t, func(c *Config) { useMinIO(c, m) })
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const toneLen = 3 * time.Second
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0911222333",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, toneLen), 4*time.Second),
	})
	res.RequireCalls(t, 1, 0)
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a)

	cl := minioClient(t, m)
	var keys []string
	waitFor(t, 20*time.Second, "the recording and its call record in the bucket", func() bool {
		keys = objects(t, cl)
		return len(keys) == 2
	})
	wav := wavKeys(keys)
	if len(wav) != 1 || !strings.Contains(wav[0], "recordings/") {
		t.Fatalf("bucket holds %v, want one recordings/... .wav and its .json", keys)
	}
	info, err := cl.StatObject(ctx, testBucket, wav[0], minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	md := info.UserMetadata
	if md["Caller"] != "0911222333" || md["Agent"] != "alice" || md["Queue"] != "1900" || md["Call-Id"] == "" {
		t.Errorf("object metadata %v: want caller, agent, queue and call id", md)
	}
	if info.ContentType != "audio/wav" {
		t.Errorf("content type %q", info.ContentType)
	}

	path := filepath.Join(t.TempDir(), "rec.wav")
	if err := cl.FGetObject(ctx, testBucket, wav[0], path, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	left, winfo, err := e2e.ReadWAVChannel(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if winfo.Channels != 2 || winfo.Rate != 8000 {
		t.Fatalf("recording is %+v, want 8 kHz stereo", winfo)
	}
	total := time.Duration(len(left)) * time.Second / 8000
	if got := e2e.DominantTone(left, 8000, tones); got != callerHz {
		t.Errorf("left channel carries %v Hz, want the caller's %v Hz", got, callerHz)
	}
	if got := e2e.DominantTone(right, 8000, tones); got != agentHz {
		t.Errorf("right channel carries %v Hz, want the agent's %v Hz", got, agentHz)
	}
	// The caller sent its tone for toneLen; the agent talked from the bridge
	// to the end of the recording.
	near := func(got, want time.Duration) bool {
		return math.Abs(float64(got-want)) <= float64(100*time.Millisecond)
	}
	if got := e2e.ActiveDuration(left, 8000); !near(got, toneLen) {
		t.Errorf("caller's tone lasts %s in the recording, want %s ± 100 ms", got, toneLen)
	}
	if got := e2e.ActiveDuration(right, 8000); !near(got, total) {
		t.Errorf("agent's tone lasts %s of the %s recording, want all of it ± 100 ms", got, total)
	}

	// The call record beside it.
	jsonKey := strings.TrimSuffix(wav[0], ".wav") + ".json"
	obj, err := cl.GetObject(ctx, testBucket, jsonKey, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	var rec recording.CallRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("call record %s: %v", raw, err)
	}
	if rec.Agent != "alice" || rec.Caller != "0911222333" || rec.End.IsZero() || !near(time.Duration(rec.DurationSeconds*float64(time.Second)), total) {
		t.Errorf("call record %+v does not match the call", rec)
	}
	// Nothing is left in the spool once the upload is confirmed.
	if left := spoolFiles(t, a.cfg.Recording.SpoolDir); len(left) != 0 {
		t.Errorf("spool still holds %v", left)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func (a *testApp) apiURL(path string) string { return "http://" + a.api.Addr().String() + path }

func httpJSON(t *testing.T, method, url string, body string, into any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, res.StatusCode, raw, err)
		}
	}
	return res.StatusCode
}

// TestE2ERecordingPauseAndRetrieval: a supervisor pauses a call's
// recording through the API while the caller reads out a card number,
// then resumes; the recording has silence for the pause, the call record
// notes it, and the recording is fetched through a pre-signed URL.
func TestE2ERecordingPauseAndRetrieval(t *testing.T) {
	skipShort(t)
	m := miniotest.Start(t)
	a := startApp(t, func(c *Config) { useMinIO(c, m) })
	agent := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 6*time.Second), 7*time.Second),
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	var calls []struct {
		CallID string `json:"call_id"`
		Agent  string `json:"agent"`
	}
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/calls"), "", &calls); code != 200 || len(calls) != 1 || calls[0].Agent != "bob" {
		t.Fatalf("GET /api/v1/calls: %d %+v", code, calls)
	}
	id := calls[0].CallID

	var e struct{ Error string }
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/calls/nope/recording/pause"), "", &e); code != 404 || e.Error == "" {
		t.Errorf("pause of an unknown call: %d %+v, want 404 with a JSON error", code, e)
	}
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/calls/"+id+"/recording/pause"), "{bad", &e); code != 400 {
		t.Errorf("pause with a bad body: %d, want 400", code)
	}
	time.Sleep(time.Second)
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/calls/"+id+"/recording/pause"), `{"reason":"card number"}`, nil); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	time.Sleep(2 * time.Second)
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/calls/"+id+"/recording/resume"), "", nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)

	var got struct {
		Key string `json:"key"`
		URL string `json:"url"`
	}
	waitFor(t, 20*time.Second, "the recording to be retrievable", func() bool {
		return httpJSON(t, "GET", a.apiURL("/api/v1/recordings/"+id), "", &got) == 200
	})
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/recordings/no-such-call"), "", &e); code != 404 {
		t.Errorf("unknown recording: %d, want 404", code)
	}
	// The pre-signed URL works without credentials.
	resp, err := http.Get(got.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("pre-signed URL: %d", resp.StatusCode)
	}
	path := filepath.Join(t.TempDir(), "rec.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()
	left, _, err := e2e.ReadWAVChannel(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	// About 2 s of the caller's 6 s tone, and of the agent's tone (which
	// lasts the whole recording), are paused.
	total := time.Duration(len(left)) * time.Second / 8000
	for _, ch := range []struct {
		name    string
		samples []int16
		sent    time.Duration
	}{{"caller", left, 6 * time.Second}, {"agent", right, total}} {
		active := e2e.ActiveDuration(ch.samples, 8000)
		if paused := ch.sent - active; paused < 1500*time.Millisecond || paused > 2500*time.Millisecond {
			t.Errorf("%s channel has %s of sound of %s sent, want about 2 s paused", ch.name, active, ch.sent)
		}
	}
	cl := minioClient(t, m)
	obj, err := cl.GetObject(ctx, testBucket, strings.TrimSuffix(got.Key, ".wav")+".json", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rec recording.CallRecord
	if err := json.NewDecoder(obj).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Pauses) != 1 || rec.Pauses[0].Reason != "card number" || rec.Pauses[0].End.Sub(rec.Pauses[0].Start) < 1500*time.Millisecond {
		t.Errorf("call record pauses %+v, want one ~2 s pause for the card number", rec.Pauses)
	}
}
