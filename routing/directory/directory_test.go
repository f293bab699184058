package directory

import (
	"context"
	"encoding/json"
	"errors"
	"hotline/routing/internal/routingtest"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNormalizeNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+84912345678", "+84912345678"},
		{"0912345678", "+84912345678"},
		{"84912345678", "+84912345678"},
		{"0084912345678", "+84912345678"},
		{"+84 91 234-5678", "+84912345678"},
		{"(091) 234.5678", "+84912345678"},
		{"sip:0912345678@carrier.example", "+84912345678"},
		{"tel:+14155550100", "+14155550100"},
		{"02838001234", "+842838001234"},
		{"1900", "1900"},
		{"*21", ""},
		{"alice", ""},
		{"anonymous", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeNumber(tt.in, "84"); got != tt.want {
			t.Errorf("NormalizeNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := NormalizeNumber("07700900123", "44"); got != "+447700900123" {
		t.Errorf("UK national form: %q", got)
	}
}

const customersYAML = `customers:
  - id: C1
    name: Lan
    numbers: ["0912345678", "+84 28 3800 1234"]
    segment: loyal
    style: proactive
    language: vi
    last_agent: alice
    history: {calls: 12, last_csat: 5, open_complaint: false}
  - id: C2
    name: Minh
    number: "84987654321"
    segment: at_risk
    history: {open_complaint: true}
`

const customersCSV = `id,name,numbers,segment,style,language,last_agent,calls,last_csat,open_complaint
C1,Lan,0912345678;+842838001234,loyal,proactive,vi,alice,12,5,false
C2,Minh,84987654321,at_risk,,,,0,0,true
`

func newTestDirectory(t *testing.T, c Config) *Directory {
	t.Helper()
	if c.CountryCode == "" {
		c.CountryCode = "84"
	}
	d, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDirectoryFile(t *testing.T) {
	for _, f := range []struct{ name, data string }{{"customers.yaml", customersYAML}, {"customers.csv", customersCSV}} {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), f.name)
			if err := os.WriteFile(path, []byte(f.data), 0o644); err != nil {
				t.Fatal(err)
			}
			d := newTestDirectory(t, Config{File: path})
			ctx := context.Background()
			for _, n := range []string{"+84912345678", "0912345678", "84912345678"} {
				c := d.Lookup(ctx, n)
				if !c.Known || c.ID != "C1" || c.Segment != SegmentLoyal || c.Style != StyleProactive ||
					c.LastAgent != "alice" || c.Language != "vi" || c.History.Calls != 12 || c.History.LastCSAT != 5 {
					t.Fatalf("Lookup(%s) = %+v", n, c)
				}
			}
			if c := d.Lookup(ctx, "02838001234"); c.ID != "C1" {
				t.Fatalf("second number: %+v", c)
			}
			c := d.Lookup(ctx, "0987654321")
			if c.ID != "C2" || c.Segment != SegmentAtRisk || c.Style != StyleUnknown || !c.History.OpenComplaint {
				t.Fatalf("C2 = %+v", c)
			}
			u := d.Lookup(ctx, "0900000000")
			if u.Known || u.Segment != SegmentUnknown || u.Style != StyleUnknown || u.Number != "+84900000000" {
				t.Fatalf("unknown caller = %+v", u)
			}
		})
	}
}

func TestDirectoryBadFiles(t *testing.T) {
	tests := []struct{ name, data, msg string }{
		{"x.yaml", "customers:\n  - id: A\n    numbr: '0912345678'\n", "numbr"},
		{"x.yaml", "customers:\n  - id: A\n", "no number"},
		{"x.yaml", "customers:\n  - id: A\n    number: '0912'\n    style: lazy\n", "style"},
		{"x.yaml", "customers:\n  - {id: A, number: '0912345678'}\n  - {id: B, number: '+84912345678'}\n", "already filed for A"},
		{"x.csv", "id,phone\nA,0912345678\n", `unknown column "phone"`},
		{"x.csv", "id,number,calls\nA,0912345678,many\n", "line 2: calls"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), tt.name)
		if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{File: path, CountryCode: "84"}, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: error %v, want %q", tt.data, err, tt.msg)
		}
	}
}

func TestDirectoryReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.yaml")
	if err := os.WriteFile(path, []byte(customersYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newTestDirectory(t, Config{File: path})
	ctx := context.Background()

	// Unchanged file: nothing to do. Changed file: new contents.
	if err := d.reloadIfChanged(); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(customersYAML, "segment: loyal", "segment: potential", 1) + "  - {id: C3, number: '0900000003', segment: low_value}\n"
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.reloadIfChanged(); err != nil {
		t.Fatal(err)
	}
	if c := d.Lookup(ctx, "0912345678"); c.Segment != SegmentPotential {
		t.Fatalf("after change: %+v", c)
	}
	if c := d.Lookup(ctx, "0900000003"); c.ID != "C3" {
		t.Fatalf("new customer: %+v", c)
	}
	// A broken file keeps the previous contents.
	if err := os.WriteFile(path, []byte("customers: [oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if c := d.Lookup(ctx, "0900000003"); c.ID != "C3" {
		t.Fatalf("after failed reload: %+v", c)
	}
}

func TestDirectoryReloadDuringLookups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.yaml")
	if err := os.WriteFile(path, []byte(customersYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newTestDirectory(t, Config{File: path})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100000 && ctx.Err() == nil; j++ {
				if c := d.Lookup(ctx, "0912345678"); c.ID != "C1" {
					bad.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if err := d.Reload(); err != nil {
			t.Error(err)
		}
	}
	cancel()
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d lookups missed the customer during reloads", bad.Load())
	}
}

func TestDirectoryWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.yaml")
	if err := os.WriteFile(path, []byte(customersYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newTestDirectory(t, Config{File: path, ReloadInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Watch(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	more := customersYAML + "  - {id: C9, number: '0900000009'}\n"
	if err := os.WriteFile(path, []byte(more), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.Lookup(ctx, "0900000009").ID != "C9" {
		if time.Now().After(deadline) {
			t.Fatal("changed file not reloaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDirectorySetStyle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "customers.yaml")
	if err := os.WriteFile(path, []byte(customersYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{File: path, StateFile: filepath.Join(dir, "state", "directory.json")}
	d := newTestDirectory(t, cfg)
	ctx := context.Background()
	if err := d.SetStyle("0900000001", "lazy"); !errors.Is(err, ErrBadStyle) {
		t.Fatalf("bad style: %v", err)
	}
	if err := d.SetStyle("anonymous", StyleReactive); !errors.Is(err, ErrNoNumber) {
		t.Fatalf("no number: %v", err)
	}
	if err := d.SetStyle("0900000001", StyleReactive); err != nil {
		t.Fatal(err)
	}
	if err := d.SetStyle("+84987654321", StyleProactive); err != nil { // C2, style unknown in the file
		t.Fatal(err)
	}
	if err := d.SetStyle("0912345678", StyleReactive); err != nil { // C1 is proactive in the file
		t.Fatal(err)
	}
	// After a restart.
	d2 := newTestDirectory(t, cfg)
	if c := d2.Lookup(ctx, "+84900000001"); c.Style != StyleReactive || c.Known {
		t.Fatalf("unknown caller's answer not remembered: %+v", c)
	}
	if c := d2.Lookup(ctx, "0987654321"); c.Style != StyleProactive || c.ID != "C2" {
		t.Fatalf("C2: %+v", c)
	}
	if c := d2.Lookup(ctx, "0912345678"); c.Style != StyleProactive {
		t.Fatalf("the directory's style must win: %+v", c)
	}
}

// TestDirectoryNoteCall: calls Hotline handled add to a customer's
// history (count, last rating, last agent), also after a restart.
func TestDirectoryNoteCall(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "customers.yaml")
	if err := os.WriteFile(path, []byte(customersYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{File: path, StateFile: filepath.Join(dir, "directory.json")}
	d := newTestDirectory(t, cfg)
	ctx := context.Background()
	before := d.Lookup(ctx, "0912345678")
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if err := d.NoteCall("+84912345678", "bob", 2, at); err != nil {
		t.Fatal(err)
	}
	if err := d.NoteCall("0912345678", "carol", 0, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := d.NoteCall("0900000002", "", 4, at); err != nil { // unknown caller
		t.Fatal(err)
	}
	if err := d.NoteCall("anonymous", "bob", 5, at); !errors.Is(err, ErrNoNumber) {
		t.Fatalf("no number: %v", err)
	}
	d2 := newTestDirectory(t, cfg) // after a restart
	c := d2.Lookup(ctx, "0912345678")
	if c.History.Calls != before.History.Calls+2 || c.History.LastCSAT != 2 || c.LastAgent != "carol" {
		t.Fatalf("C1 history %+v, last agent %s; want 2 more calls, last CSAT 2, last agent carol", c.History, c.LastAgent)
	}
	if u := d2.Lookup(ctx, "0900000002"); u.History.Calls != 1 || u.History.LastCSAT != 4 {
		t.Fatalf("unknown caller's history %+v", u.History)
	}
}

func TestDirectoryCRM(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Query().Get("phone") {
		case "+84911111111":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "X1", "name": "Hoa", "segment": "loyal", "style": "reactive",
				"last_agent": "bob", "history": map[string]any{"calls": 3, "last_csat": 2}})
		case "+84922222222":
			http.NotFound(w, r)
		case "+84933333333":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "+84944444444":
			_, _ = w.Write([]byte(`{"id": "X4", "segment": `))
		case "+84955555555":
			select { // slow: until the client gives up (or the test ends)
			case <-r.Context().Done():
			case <-release:
			}
		default:
			http.Error(w, "unexpected "+r.URL.RawQuery, http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	defer close(release)
	clk := routingtest.NewClock()
	d, err := New(Config{CountryCode: "84", CRM: CRMConfig{
		URL: srv.URL + "/customers?phone={{.Number}}", Timeout: 200 * time.Millisecond, CacheTTL: time.Minute, CacheSize: 10,
	}}, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	c := d.Lookup(ctx, "0911111111")
	if !c.Known || c.ID != "X1" || c.Segment != SegmentLoyal || c.Style != StyleReactive || c.LastAgent != "bob" ||
		c.History.LastCSAT != 2 || c.Number != "+84911111111" {
		t.Fatalf("CRM customer = %+v", c)
	}
	// Cached for the TTL.
	d.Lookup(ctx, "+84911111111")
	if hits.Load() != 1 {
		t.Fatalf("%d CRM requests, want 1 (cached)", hits.Load())
	}
	clk.Add(time.Minute)
	d.Lookup(ctx, "+84911111111")
	if hits.Load() != 2 {
		t.Fatalf("%d CRM requests, want 2 (expired)", hits.Load())
	}
	for _, n := range []string{"0922222222", "0933333333", "0944444444"} {
		if c := d.Lookup(ctx, n); c.Known || c.Segment != SegmentUnknown {
			t.Errorf("%s: %+v, want unknown", n, c)
		}
	}
	// Errors are not cached; not-found is.
	before := hits.Load()
	d.Lookup(ctx, "0922222222")
	d.Lookup(ctx, "0933333333")
	if got := hits.Load() - before; got != 1 {
		t.Fatalf("%d requests after not-found and error, want 1 (the error retried)", got)
	}
	// A slow CRM: unknown once the timeout passes (the lookup returns; the
	// time it takes is for benchmarks to measure, not asserted here).
	done := make(chan Customer, 1)
	go func() { done <- d.Lookup(ctx, "0955555555") }()
	select {
	case c := <-done:
		if c.Known || c.Segment != SegmentUnknown {
			t.Fatalf("slow CRM: %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lookup not bounded by the CRM timeout")
	}
}

func TestCRMCacheBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"id": r.URL.Path})
	}))
	defer srv.Close()
	clk := routingtest.NewClock()
	s, err := newCRMSource(CRMConfig{URL: srv.URL + "/{{.Digits}}", Timeout: time.Second, CacheTTL: time.Hour, CacheSize: 3}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		n := "+8490000000" + string(rune('0'+i))
		c, found, err := s.lookup(context.Background(), n)
		if err != nil || !found || c.ID != "/8490000000"+string(rune('0'+i)) {
			t.Fatalf("lookup %s: %+v %v %v", n, c, found, err)
		}
		if len(s.cache) > 3 {
			t.Fatalf("cache holds %d entries, limit 3", len(s.cache))
		}
	}
}
