package recording

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/internal/miniotest"

	"github.com/minio/minio-go/v7"
)

// s3Config is a config for the MinIO server srv.
func s3Config(t *testing.T, srv *miniotest.Server, bucket string) Config {
	t.Helper()
	c := testConfig(t)
	c.Backend = BackendS3
	c.S3 = S3Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, CreateBucket: true}
	c.Upload.Timeout = 5 * time.Second
	c.SetDefaults()
	return c
}

func startManager(t *testing.T, c Config) *Manager {
	t.Helper()
	m := newTestManager(t, c)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestS3RecordingStoredWithMetadataAndRecord(t *testing.T) {
	srv := miniotest.Start(t)
	c := s3Config(t, srv, "calls")
	c.Retention = 90 * 24 * time.Hour
	c.S3.SetLifecycle = true
	m := startManager(t, c)

	r, err := m.Begin(CallInfo{CallID: "s3-1", Caller: "+15550100", Agent: "alice", Queue: "care", Reason: "policy", Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 50; k++ {
		callerU.send(r, k)
		agentA.send(r, k)
	}
	if err := r.SetCSAT(5); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(at(1000)); err != nil {
		t.Fatal(err)
	}
	spooled, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}

	ctx := context.Background()
	lc, err := m.Backend().(*S3Backend).Client().GetBucketLifecycle(ctx, "calls")
	if err != nil || len(lc.Rules) != 1 || lc.Rules[0].Expiration.Days != 90 || lc.Rules[0].RuleFilter.Prefix != "recordings/" {
		t.Errorf("lifecycle = %+v, %v", lc, err)
	}
	key := "recordings/2026/03/07/s3-1.wav"
	if r.Key() != key {
		t.Fatalf("key = %q", r.Key())
	}
	oi, err := m.Backend().Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if oi.Size != int64(len(spooled)) || oi.ContentType != "audio/wav" || !oi.HasCRC32C {
		t.Errorf("object = %+v (want %d bytes, audio/wav, a CRC-32C)", oi, len(spooled))
	}
	wantMD := map[string]string{
		"call-id": "s3-1", "caller": "+15550100", "agent": "alice", "queue": "care", "reason": "policy",
		"start": "2026-03-07T01:02:03Z", "end": "2026-03-07T01:02:04Z", "duration": "1.000", "csat": "5",
	}
	for k, v := range wantMD {
		if oi.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q (all: %v)", k, oi.Metadata[k], v, oi.Metadata)
		}
	}

	// Retrieval by pre-signed URL returns the recording as spooled.
	u, err := m.URL(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "http://"+srv.Endpoint+"/calls/") || !strings.Contains(u, "X-Amz-Expires=3600") {
		t.Errorf("URL = %s", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(spooled) {
		t.Errorf("GET pre-signed URL: %s, %d bytes", resp.Status, len(body))
	}

	rc, err := m.Backend().Open(ctx, "recordings/2026/03/07/s3-1.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec CallRecord
	if err := json.NewDecoder(rc).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if rec.CallID != "s3-1" || rec.CSAT == nil || *rec.CSAT != 5 || rec.DurationSeconds != 1 || rec.Key != key {
		t.Errorf("call record = %+v", rec)
	}
}

func TestS3OutageLosesNothing(t *testing.T) {
	srv := miniotest.Start(t)
	c := s3Config(t, srv, "calls")
	m := startManager(t, c)
	recordCall(t, m, CallInfo{CallID: "before", Start: t0}, 200)
	waitFor(t, 15*time.Second, "first upload", func() bool { return m.Backlog().Uploaded == 1 })

	srv.Stop()
	for i, id := range []string{"during-1", "during-2", "during-3"} {
		recordCall(t, m, CallInfo{CallID: id, Start: at(float64(1000 * (i + 1)))}, 300)
	}
	waitFor(t, 15*time.Second, "failed attempts", func() bool {
		b := m.Backlog()
		return b.Failures >= 2 && b.LastError != ""
	})
	b := m.Backlog()
	if b.Files != 3 || b.Bytes <= 3*(44+2400*4) || b.OldestAge <= 0 {
		t.Errorf("backlog during outage = %+v", b)
	}
	t.Logf("during the outage: %s", b.LastError)

	srv.Restart(t)
	waitFor(t, 20*time.Second, "uploads after restart", func() bool { return m.Backlog().Files == 0 })
	if b := m.Backlog(); b.Uploaded != 4 {
		t.Errorf("backlog = %+v", b)
	}
	for _, id := range []string{"before", "during-1", "during-2", "during-3"} {
		for _, ext := range []string{".wav", ".json"} {
			if _, err := m.Backend().Stat(context.Background(), "recordings/2026/03/07/"+id+ext); err != nil {
				t.Errorf("%s%s: %v", id, ext, err)
			}
		}
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
}

func TestS3ErrorsKeepFilesSpooled(t *testing.T) {
	srv := miniotest.Start(t)
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"wrong credentials", func(c *Config) { c.S3.SecretKey = "wrong-secret" }, "signature"},
		{"missing bucket", func(c *Config) { c.S3.CreateBucket = false; c.S3.Bucket = "absent" }, `bucket does not exist: "absent"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s3Config(t, srv, "calls")
			tc.edit(&c)
			m := startManager(t, c)
			recordCall(t, m, CallInfo{CallID: "kept", Start: t0}, 200)
			waitFor(t, 10*time.Second, "an error", func() bool { return m.Backlog().Failures >= 2 })
			b := m.Backlog()
			if !strings.Contains(b.LastError, tc.want) || b.Files != 1 || b.Uploaded != 0 {
				t.Errorf("backlog = %+v, want an error containing %q", b, tc.want)
			}
			t.Logf("last error: %s", b.LastError)
			checkSpooledAlone(t, c.SpoolDir)
		})
	}
}

func TestS3RestartRecoversCrashedRecording(t *testing.T) {
	srv := miniotest.Start(t)
	c := s3Config(t, srv, "calls")
	crashSpool(t, c.SpoolDir)
	m := startManager(t, c)
	waitFor(t, 15*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })

	client := m.Backend().(*S3Backend).Client()
	local := t.TempDir() + "/crashed.wav"
	if err := client.FGetObject(context.Background(), "calls", "recordings/2026/03/07/crashed.wav", local, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	info, ch := readPCM16(t, local)
	if info.Frames != 12000 || ch[0][11999] != 11999 || ch[1][11999] != -11999 {
		t.Errorf("stored WAV: %+v", info)
	}
	oi, err := m.Backend().Stat(context.Background(), "recordings/2026/03/07/crashed.wav")
	if err != nil {
		t.Fatal(err)
	}
	if oi.Metadata["recovered"] != "true" || oi.Metadata["end"] != "2026-03-07T01:02:04.5Z" || oi.Metadata["agent"] != "carol" {
		t.Errorf("metadata = %v", oi.Metadata)
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
}

// TestS3SecretKeyFile: the secret key can come from a file (a Docker or
// systemd secret); a recording is then stored, and a wrong key in the file
// is refused by the store.
func TestS3SecretKeyFile(t *testing.T) {
	srv := miniotest.Start(t)
	for _, tt := range []struct {
		name, key string
		stored    bool
	}{
		{"right key", miniotest.SecretKey + "\n", true},
		{"wrong key", "wrong-secret\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "s3.secret")
			if err := os.WriteFile(file, []byte(tt.key), 0o600); err != nil {
				t.Fatal(err)
			}
			c := s3Config(t, srv, "keyfile")
			c.S3.SecretKey, c.S3.SecretKeyFile = "", file
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			m := startManager(t, c)
			recordCall(t, m, CallInfo{CallID: "from-file", Start: t0}, 200)
			if tt.stored {
				waitFor(t, 10*time.Second, "the upload", func() bool { return m.Backlog().Uploaded == 1 })
			} else {
				waitFor(t, 10*time.Second, "an error", func() bool { return m.Backlog().Failures >= 1 })
				if b := m.Backlog(); b.Uploaded != 0 || strings.Contains(b.LastError, "wrong-secret") {
					t.Errorf("backlog = %+v", b)
				}
			}
		})
	}
	c := s3Config(t, srv, "keyfile")
	c.S3.SecretKey, c.S3.SecretKeyFile = "", "/nonexistent/s3.secret"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "s3.secret_key_file: cannot read /nonexistent/s3.secret") {
		t.Errorf("missing file: %v", err)
	}
}
