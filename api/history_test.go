package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/internal/pgtest"
	"hotline/recording"
	"hotline/records"
)

// historyAPI starts the API on a records store holding calls of alice
// and bob (some rated, some recorded) and their events.
func historyAPI(t *testing.T, c records.Config) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := records.Open(ctx, c, records.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i := 0; i < 25; i++ {
		at := base.Add(time.Duration(i) * time.Hour)
		agent := []string{"alice", "bob"}[i%2]
		csat := 1 + i%5
		store.Call(records.Call{CallID: fmt.Sprintf("c%02d", i), Queue: "default", Customer: "+84901234567", Segment: "standard",
			Agent: agent, Arrived: at, Ended: at.Add(time.Minute), Outcome: "answered", CSAT: &csat,
			Recording: fmt.Sprintf("recordings/2026/11/30/c%02d.wav", i)})
		store.Event(records.Event{At: at, Kind: records.EventConnected, CallID: fmt.Sprintf("c%02d", i), Agent: agent, Queue: "default"})
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ac := api.Config{Listen: "127.0.0.1:0"}
	ac.SetDefaults()
	dir := t.TempDir()
	recs, err := recording.New(recording.Config{Backend: recording.BackendFile, SpoolDir: filepath.Join(dir, "spool"),
		File: recording.FileConfig{Dir: filepath.Join(dir, "recordings")}}, recording.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recs.Close() })
	return startAPIWith(t, ac, api.Deps{History: store, Recordings: recs, Log: slog.New(slog.DiscardHandler)})
}

// startAPIWith starts an API server with deps and returns its base URL.
func startAPIWith(t *testing.T, c api.Config, d api.Deps) string {
	t.Helper()
	srv := api.New(c, d)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + srv.Addr().String()
}

func getJSON(t *testing.T, u string, out any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: %d, Content-Type %q: %s", u, resp.StatusCode, ct, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %d, not JSON: %s", u, resp.StatusCode, body)
	}
	return resp.StatusCode
}

type callsAnswer struct {
	Calls []struct {
		CallID       string `json:"call_id"`
		Agent        string `json:"agent"`
		CSAT         *int   `json:"csat"`
		Recording    string `json:"recording"`
		RecordingURL string `json:"recording_url"`
	} `json:"calls"`
	Next  string `json:"next_cursor"`
	Error string `json:"error"`
}

func historyBackends(t *testing.T) map[string]records.Config {
	srv := pgtest.Start(t)
	fc := records.Config{Backend: records.BackendFile, SpoolDir: t.TempDir()}
	fc.File.Dir = t.TempDir()
	fc.SetDefaults()
	fc.File.LookBackDays = 3660
	pc := records.Config{Backend: records.BackendPostgres, SpoolDir: t.TempDir()}
	pc.Postgres.DSN = srv.NewDatabase(t, "api")
	pc.SetDefaults()
	return map[string]records.Config{"file": fc, "postgres": pc}
}

// Filters and paging through HTTP: Alice's calls rated 2 or less, page by
// page, each with its recording key.
func TestHistoryAPIFiltersAndPages(t *testing.T) {
	for name, c := range historyBackends(t) {
		t.Run(name, func(t *testing.T) {
			base := historyAPI(t, c)
			var got []string
			next := ""
			for pages := 0; ; pages++ {
				var a callsAnswer
				u := base + "/api/v1/history/calls?agent=alice&csat_max=2&from=2026-11-01&limit=2"
				if next != "" {
					u += "&cursor=" + url.QueryEscape(next)
				}
				if code := getJSON(t, u, &a); code != http.StatusOK {
					t.Fatalf("%d %s", code, a.Error)
				}
				for _, c := range a.Calls {
					if c.Agent != "alice" || c.CSAT == nil || *c.CSAT > 2 || c.Recording == "" {
						t.Fatalf("row %+v does not match the filter or lacks its recording key", c)
					}
					got = append(got, c.CallID)
				}
				if next = a.Next; next == "" {
					break
				}
			}
			// alice: even i; csat = 1 + i%5 <= 2: i%5 in {0, 1}; i < 25.
			want := []string{"c20", "c16", "c10", "c06", "c00"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("got %v, want %v", got, want)
			}
			var a callsAnswer
			if code := getJSON(t, base+"/api/v1/customers/%2B84901234567/calls?limit=1000", &a); code != 200 || len(a.Calls) != 25 {
				t.Fatalf("customer's calls: %d, %d rows, %s", code, len(a.Calls), a.Error)
			}
			// urls=1: each row carries a signed, expiring URL of its recording.
			a = callsAnswer{}
			if code := getJSON(t, base+"/api/v1/history/calls?agent=bob&limit=3&urls=1", &a); code != 200 || len(a.Calls) != 3 {
				t.Fatalf("urls=1: %d, %d rows, %s", code, len(a.Calls), a.Error)
			}
			for _, c := range a.Calls {
				u, err := url.Parse(c.RecordingURL)
				if err != nil || u.Path != "/api/v1/download/"+c.Recording || u.Query().Get("signature") == "" || u.Query().Get("expires") == "" {
					t.Fatalf("recording_url %q of %s (key %s)", c.RecordingURL, c.CallID, c.Recording)
				}
			}
			var ev struct {
				Events []records.Event `json:"events"`
			}
			if code := getJSON(t, base+"/api/v1/agents/bob/events?kind=connected", &ev); code != 200 || len(ev.Events) != 12 {
				t.Fatalf("bob's events: %d, %d rows", code, len(ev.Events))
			}
		})
	}
}

// hostile are filter values meant to break a query: quotes, statement
// separators, comments, LIKE wildcards, unicode, NUL, invalid UTF-8,
// huge and odd numbers, very long values.
var hostile = []string{
	"'", "''", `"`, `\`, "' OR '1'='1", "alice' --", "'; DROP TABLE calls; --", "1; SELECT pg_sleep(5)",
	"%", "_", "$1", "?", "*", "alice%", "Nguyễn Văn Ánh 🎧", "\u202eecila", "ａｌｉｃｅ", "\x00", "alice\x00", "\xff\xfe",
	"99999999999999999999999999", "-1", "0", "1e309", "NaN", "-9223372036854775809", "9223372036854775807",
	"0x10", " 2", "2 ", "1.5", strings.Repeat("a", 10000), "2026-13-45", "9999-12-31T23:59:59Z", "0000-01-01",
	"-infinity", "infinity", "now()", "eyJ0IjoxLCJpZCI6IiJ9", "eyJ0Ijo5OTk5OTk5OTk5OTk5OTk5OTk5LCJpZCI6IngifQ",
}

// Every history parameter given a hostile value answers 400 with a JSON
// error, or 200 with an empty (or unfiltered-for-that-value) result;
// never a 5xx, never an error from SQL; and the tables are intact after.
func TestHistoryAPIHostileValues(t *testing.T) {
	for name, c := range historyBackends(t) {
		t.Run(name, func(t *testing.T) {
			base := historyAPI(t, c)
			check := func(path string, params url.Values, stringFilter bool) {
				t.Helper()
				u := base + path
				if len(params) > 0 {
					u += "?" + params.Encode()
				}
				var a struct {
					callsAnswer
					Events []json.RawMessage `json:"events"`
				}
				code := getJSON(t, u, &a)
				switch {
				case code == http.StatusBadRequest && a.Error != "":
				case code == http.StatusOK && (!stringFilter || len(a.Calls)+len(a.Events) == 0):
				default:
					t.Fatalf("GET %s: %d %q (%d rows)", u, code, a.Error, len(a.Calls)+len(a.Events))
				}
				if strings.Contains(strings.ToLower(a.Error), "sql") || strings.Contains(a.Error, "pgx") {
					t.Fatalf("GET %s: SQL error leaked: %s", u, a.Error)
				}
			}
			for _, v := range hostile {
				for _, p := range []string{"from", "to", "agent", "customer", "queue", "segment", "outcome", "csat_max", "limit", "cursor", "urls"} {
					str := p == "agent" || p == "customer" || p == "queue" || p == "segment" || p == "outcome"
					check("/api/v1/history/calls", url.Values{p: {v}}, str)
					check("/api/v1/customers/"+url.PathEscape("+84901234567")+"/calls", url.Values{p: {v}}, str && p != "customer")
				}
				for _, p := range []string{"from", "to", "kind", "call_id", "limit", "cursor"} {
					check("/api/v1/agents/bob/events", url.Values{p: {v}}, p == "kind" || p == "call_id")
				}
				if v != "" && !strings.Contains(v, "/") {
					check("/api/v1/customers/"+url.PathEscape(v)+"/calls", nil, true)
					check("/api/v1/agents/"+url.PathEscape(v)+"/events", nil, true)
				}
			}
			var a callsAnswer
			if code := getJSON(t, base+"/api/v1/history/calls?limit=1000&from=2026-11-01", &a); code != 200 || len(a.Calls) != 25 {
				t.Fatalf("after the hostile values: %d, %d calls, %s", code, len(a.Calls), a.Error)
			}
		})
	}
}
