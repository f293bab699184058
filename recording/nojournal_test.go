package recording

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"hotline/internal/fsinfo"
	"hotline/internal/proctest"
)

// TestStartWarnsOfAnExt4WithoutJournal: Start warns, naming the
// directory, exactly when the spool is on an ext4 without a journal
// (this VM's root file system is one; a journaled one gets no warning).
func TestStartWarnsOfAnExt4WithoutJournal(t *testing.T) {
	c := testConfig(t)
	var logs proctest.Buffer
	m, err := New(c, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := fsinfo.JournallessExt4(c.SpoolDir)
	got := strings.Contains(logs.String(), "without a journal") && strings.Contains(logs.String(), c.SpoolDir)
	if got != want {
		t.Fatalf("warned %v, want %v (spool %s on an ext4 without a journal: %v); logs:\n%s", got, want, c.SpoolDir, want, logs.String())
	}
	t.Logf("spool on an ext4 without a journal: %v", want)
}
