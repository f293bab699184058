package lograte

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hotline/internal/proctest"
)

// lines are what b holds, a line each.
func lines(b *proctest.Buffer) []string {
	return strings.Split(strings.TrimSpace(b.String()), "\n")
}

func waitLines(t *testing.T, b *proctest.Buffer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := lines(b)
		if len(l) >= n || time.Now().After(deadline) {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFloodIsOneLineAPeriod: of 50 lines at once, the first 3 are
// written; at the period's end one line says 47 more came, with the last
// one's attributes; a line in the next period is written again.
func TestFloodIsOneLineAPeriod(t *testing.T) {
	var b proctest.Buffer
	l := New(slog.New(slog.NewTextHandler(&b, nil)), 200*time.Millisecond, 3)
	ctx := context.Background()
	for i := range 50 {
		l.Log(ctx, slog.LevelInfo, "SIP request refused", "source", "192.0.2.7:5060", "n", i)
	}
	got := lines(&b)
	if len(got) != 3 || !strings.Contains(got[2], "n=2") {
		t.Fatalf("at once, %d lines, want the first 3:\n%s", len(got), strings.Join(got, "\n"))
	}
	got = waitLines(t, &b, 4)
	if len(got) != 4 {
		t.Fatalf("%d lines after the period, want the summary as the 4th:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, want := range []string{`msg="SIP request refused (more like it, not logged one by one)"`, "not_logged=47", "within=200ms", "last.source=192.0.2.7:5060", "last.n=49", "level=INFO"} {
		if !strings.Contains(got[3], want) {
			t.Errorf("summary %q lacks %s", got[3], want)
		}
	}
	time.Sleep(50 * time.Millisecond) // into the next period
	l.Log(ctx, slog.LevelWarn, "SIP request refused", "n", 50)
	if got := lines(&b); len(got) != 5 || !strings.Contains(got[4], "n=50") {
		t.Fatalf("a line in the next period was not written:\n%s", strings.Join(got, "\n"))
	}
}

// TestStopWritesWhatIsHeld: at shutdown the lines held get their summary
// at once, and later lines are written (no timer would).
func TestStopWritesWhatIsHeld(t *testing.T) {
	var b proctest.Buffer
	l := New(slog.New(slog.NewTextHandler(&b, nil)), time.Hour, 1)
	ctx := context.Background()
	l.Log(ctx, slog.LevelInfo, "call to unknown number", "number", "100")
	l.Log(ctx, slog.LevelInfo, "call to unknown number", "number", "101")
	l.Log(ctx, slog.LevelInfo, "call to unknown number", "number", "102")
	l.Stop()
	got := lines(&b)
	if len(got) != 2 || !strings.Contains(got[1], "not_logged=2") || !strings.Contains(got[1], "last.number=102") {
		t.Fatalf("after Stop:\n%s", strings.Join(got, "\n"))
	}
	l.Log(ctx, slog.LevelInfo, "call to unknown number", "number", "103")
	if got := lines(&b); len(got) != 3 || !strings.Contains(got[2], "number=103") {
		t.Fatalf("a line after Stop was not written:\n%s", strings.Join(got, "\n"))
	}
}
