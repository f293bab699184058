package recording

import (
	"errors"
	"strings"
	"testing"
	"time"

	"hotline/internal/cfg"
)

func TestKeyTemplate(t *testing.T) {
	east := time.FixedZone("UTC+5", 5*3600)
	// 2026-03-07 03:04:05 in UTC+5 is still 6 March in UTC.
	start := time.Date(2026, 3, 7, 3, 4, 5, 0, east)
	kt, err := parseKeyTemplate(DefaultKeyTemplate)
	if err != nil {
		t.Fatal(err)
	}
	key, err := kt.key(CallInfo{CallID: "a84b4c76e66710@pc33.example.com", Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if want := "recordings/2026/03/06/a84b4c76e66710@pc33.example.com.wav"; key != want {
		t.Errorf("key = %q, want %q", key, want)
	}
	if rk := recordKey(key); rk != "recordings/2026/03/06/a84b4c76e66710@pc33.example.com.json" {
		t.Errorf("record key = %q", rk)
	}
	// Slashes and dots from the call cannot escape the layout.
	key, err = kt.key(CallInfo{CallID: "../../etc/passwd", Start: start})
	if err != nil || key != "recordings/2026/03/06/.._.._etc_passwd.wav" {
		t.Errorf("key = %q, %v", key, err)
	}
	kt, err = parseKeyTemplate("{{.Queue}}/{{.Year}}{{.Month}}{{.Day}}T{{.Hour}}{{.Minute}}{{.Second}}-{{.CallID}}-{{.Segment}}.wav")
	if err != nil {
		t.Fatal(err)
	}
	key, err = kt.key(CallInfo{CallID: "c1", Queue: "care", Segment: "2", Start: start})
	if err != nil || key != "care/20260306T220405-c1-2.wav" {
		t.Errorf("key = %q, %v", key, err)
	}
	// An empty queue would give an absolute key.
	if _, err := kt.key(CallInfo{CallID: "c1", Start: start}); !errors.Is(err, ErrBadKey) {
		t.Errorf("empty queue: err = %v, want ErrBadKey", err)
	}
	if _, err := parseKeyTemplate("{{.Nope}}.wav"); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestValidate(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Backend != BackendFile || c.Format != FormatPCM16 || c.KeyTemplate != DefaultKeyTemplate {
		t.Errorf("defaults = %+v", c)
	}

	c.Backend = "S3"
	c.SetDefaults()
	c.Format = "mp3"
	c.KeyTemplate = "{{.CallID"
	c.Upload.MaxBackoff = time.Millisecond
	c.Upload.BatchWait = time.Minute
	want := map[string]string{
		"upload.batch_wait":  "is at most 5s (recordings wait that long in the spool before they are stored), got 1m0s",
		"s3.bucket":          "required when backend is s3",
		"s3.endpoint":        "required when backend is s3",
		"s3.access_key":      "required when backend is s3 (or set AWS_ACCESS_KEY_ID)",
		"s3.secret_key":      "required when backend is s3 (or secret_key_file, or set AWS_SECRET_ACCESS_KEY)",
		"format":             `must be "pcm16" or "ulaw", got "mp3"`,
		"upload.max_backoff": "must be at least min_backoff (1s), got 1ms",
	}
	got := map[string]string{}
	for _, fe := range cfg.Fields(c.Validate()) {
		got[fe.Field] = fe.Msg
	}
	for f, msg := range want {
		if got[f] != msg {
			t.Errorf("%s: got %q, want %q", f, got[f], msg)
		}
	}
	if !strings.Contains(got["key_template"], "unclosed action") {
		t.Errorf("key_template: %q", got["key_template"])
	}
	if len(got) != len(want)+1 {
		t.Errorf("errors = %v", got)
	}

	// Keys from the environment satisfy the s3 backend.
	t.Setenv("AWS_ACCESS_KEY_ID", "id")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	c = Config{Backend: "s3", S3: S3Config{Endpoint: "127.0.0.1:9000", Bucket: "rec"}}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("s3 with keys from env: %v", err)
	}
	c.S3.Endpoint = "https://s3.example.com"
	c.Backend = "ftp"
	got = map[string]string{}
	for _, fe := range cfg.Fields(c.Validate()) {
		got[fe.Field] = fe.Msg
	}
	if got["backend"] != `must be "file" or "s3", got "ftp"` || len(got) != 1 {
		t.Errorf("errors = %v", got)
	}
}

func TestPolicyShare(t *testing.T) {
	half, none := 50.0, 0.0
	cases := []struct {
		p              Policy
		queue, segment string
		want           float64
	}{
		{Policy{}, "1900", "loyal", 100},
		{Policy{Percent: &none}, "1900", "", 0},
		{Policy{Percent: &half, Queues: map[string]float64{"1900": 10}}, "1900", "", 10},
		{Policy{Percent: &half, Queues: map[string]float64{"1900": 10}}, "1800", "", 50},
		{Policy{Queues: map[string]float64{"1900": 10}, Segments: map[string]float64{"at_risk": 100}}, "1900", "at_risk", 100},
	}
	for i, tc := range cases {
		if got := tc.p.Share(tc.queue, tc.segment); got != tc.want {
			t.Errorf("case %d: Share(%q, %q) = %g, want %g", i, tc.queue, tc.segment, got, tc.want)
		}
	}
	bad := 120.0
	c := Config{Start: "later", Policy: Policy{Percent: &bad, Segments: map[string]float64{"loyal": -1}}}
	c.SetDefaults()
	err := c.Validate()
	for _, want := range []string{`start: "later" is not one of bridge, answer`, "policy.percent: must be a percentage from 0 to 100, got 120", "policy.segments.loyal: must be a percentage"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}
