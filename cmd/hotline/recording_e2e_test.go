package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
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
