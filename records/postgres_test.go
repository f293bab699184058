package records_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"hotline/internal/pgtest"
	"hotline/records"
)

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// From an empty database every migration applies once, in order, and a
// second run applies none; from the previous schema with rows in it, the
// upgrade keeps the rows and the store reads them.
func TestMigrations(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	latest := records.LatestVersion()
	if latest < 2 {
		t.Fatalf("latest schema version %d", latest)
	}

	t.Run("from empty", func(t *testing.T) {
		dsn := srv.NewDatabase(t, "empty")
		applied, err := records.Migrate(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != latest || applied[0] != 1 || applied[latest-1] != latest {
			t.Fatalf("applied %v, want 1..%d", applied, latest)
		}
		again, err := records.Migrate(ctx, dsn)
		if err != nil || len(again) != 0 {
			t.Fatalf("second run applied %v, %v", again, err)
		}
		conn := connect(t, dsn)
		if v, err := records.SchemaVersion(ctx, conn); err != nil || v != latest {
			t.Fatalf("version %d %v", v, err)
		}
		if n := count(t, conn, "SELECT count(*) FROM schema_migrations"); n != latest {
			t.Fatalf("%d rows in schema_migrations", n)
		}
	})

	t.Run("from previous", func(t *testing.T) {
		dsn := srv.NewDatabase(t, "previous")
		conn := connect(t, dsn)
		if _, err := records.MigrateTo(ctx, conn, latest-1); err != nil {
			t.Fatal(err)
		}
		// Rows written by a Hotline of the previous version.
		if _, err := conn.Exec(ctx, `INSERT INTO calls (call_id, queue, agent, arrived, ended, outcome, csat)
			VALUES ('old-1', 'default', 'alice', '2026-11-01T10:00:00Z', '2026-11-01T10:05:00Z', 'answered', 2)`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO events (event_id, at, kind, agent) VALUES ('old-e1', '2026-11-01T09:00:00Z', 'login', 'alice')`); err != nil {
			t.Fatal(err)
		}
		c := records.Config{Backend: records.BackendPostgres, SpoolDir: t.TempDir()}
		c.Postgres.DSN = dsn
		c.SetDefaults()
		s := open(t, c) // migrates at start
		if v, _ := records.SchemaVersion(ctx, conn); v != latest {
			t.Fatalf("version %d after start, want %d", v, latest)
		}
		p, err := s.Calls(ctx, records.CallQuery{Agent: "alice", CSATMax: 2})
		if err != nil || len(p.Calls) != 1 || p.Calls[0].CallID != "old-1" {
			t.Fatalf("old call after upgrade: %+v %v", p, err)
		}
		e, err := s.Events(ctx, records.EventQuery{Agent: "alice"})
		if err != nil || len(e.Events) != 1 || e.Events[0].ID != "old-e1" {
			t.Fatalf("old event after upgrade: %+v %v", e, err)
		}
	})

	t.Run("newer database refused", func(t *testing.T) {
		dsn := srv.NewDatabase(t, "newer")
		if _, err := records.Migrate(ctx, dsn); err != nil {
			t.Fatal(err)
		}
		conn := connect(t, dsn)
		if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')", latest+1); err != nil {
			t.Fatal(err)
		}
		if _, err := records.Migrate(ctx, dsn); err == nil {
			t.Fatal("a schema newer than the binary was accepted")
		}
	})
}

// PostgreSQL is killed (SIGKILL, by PID) in the middle of a load of
// calls and restarted: every call and event arrives exactly once, through
// the spool. Then the store is closed while PostgreSQL is down and a new
// one replays what the first left in the spool.
func TestPostgresKilledDuringLoad(t *testing.T) {
	srv := pgtest.Start(t)
	c := pgConfig(t, srv, "killed")
	s := open(t, c)
	const total = 3000
	done := make(chan struct{})
	go func() { // ~3 s of load, in steps of 30 calls every 30 ms
		defer close(done)
		for i := 0; i < total; i += 30 {
			load(s, i, i+30)
			time.Sleep(30 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	srv.Kill()
	time.Sleep(700 * time.Millisecond)
	srv.Restart(t)
	<-done
	waitReplayed(t, s)
	conn := connect(t, c.Postgres.DSN)
	wantEvents := 0
	for i := 0; i < total; i++ {
		_, evs := sample(i)
		wantEvents += len(evs)
	}
	if st := s.Stats(); st.Spooled == 0 {
		t.Fatalf("nothing went through the spool (%+v): the outage did not happen during the load", st)
	}
	if n := count(t, conn, "SELECT count(*) FROM calls"); n != total {
		t.Fatalf("%d calls stored, want %d", n, total)
	}
	if n := count(t, conn, "SELECT count(*) FROM events"); n != wantEvents {
		t.Fatalf("%d events stored, want %d", n, wantEvents)
	}
	if n := count(t, conn, "SELECT count(*) FROM calls WHERE call_id = ANY($1)", ids(0, total)); n != total {
		t.Fatalf("%d of the %d call ids present", n, total)
	}

	// Down at shutdown: the spool keeps the records for the next start.
	srv.Kill()
	load(s, total, total+50)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(c.SpoolDir); len(ents) == 0 {
		t.Fatal("closed while PostgreSQL was down and nothing is in the spool")
	}
	srv.Restart(t)
	s2 := open(t, c)
	waitReplayed(t, s2)
	conn = connect(t, c.Postgres.DSN)
	if n := count(t, conn, "SELECT count(*) FROM calls"); n != total+50 {
		t.Fatalf("%d calls after the second outage, want %d", n, total+50)
	}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("call-%05d", i))
	}
	return out
}

// waitReplayed flushes s until its spool is empty and the backend up.
func waitReplayed(t *testing.T, s *records.Store) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		flush(t, s)
		st := s.Stats()
		if !st.Down && st.SpoolFiles == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool not replayed after 60 s: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
