package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hotline/internal/redistest"
)

// sumState is a replicated state for the log's tests: the entries
// applied, in order, summarised (count and a hash of the order).
type sumState struct {
	mu   sync.Mutex
	n    int
	hash uint64
}

func (s *sumState) apply(_ string, data []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	for _, b := range data {
		s.hash = s.hash*31 + uint64(b)
	}
	return s.n
}

func (s *sumState) take() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(fmt.Sprintf("%d %d", s.n, s.hash)), nil
}

func (s *sumState) restore(data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, b, _ := strings.Cut(string(data), " ")
	var err1, err2 error
	s.n, err1 = strconv.Atoi(a)
	s.hash, err2 = strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad snapshot %q", data)
	}
	return nil
}

func (s *sumState) get() (int, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.hash
}

// TestLogSnapshotsTrim: with snapshots, the stream stays short while the
// nodes run, and a node that joins later restores the snapshot, applies
// the entries after it and holds the same state as the others.
func TestLogSnapshotsTrim(t *testing.T) {
	srv := redistest.Start(t)
	const every, ops = 50, 600
	open := func(name string) (*Node, *Log, *sumState) {
		n, _ := join(t, srv, name)
		st := &sumState{}
		l, err := n.OpenLogWithSnapshots(t.Context(), "acd", st.apply, &Snapshots{Take: st.take, Restore: st.restore, Every: every})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return n, l, st
	}
	var nodes []*Node
	var logs []*Log
	var states []*sumState
	for i := range 3 {
		n, l, st := open(fmt.Sprintf("n%d", i))
		nodes, logs, states = append(nodes, n), append(logs, l), append(states, st)
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < ops/3; k++ {
				if _, err := logs[i].Submit([]byte(fmt.Sprintf("op-%d-%d", i, k))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	key := nodes[0].key("log", "acd")
	// The nodes report how far they applied with their heartbeats (every
	// 100ms here); the next snapshots trim the stream.
	deadline := time.Now().Add(10 * time.Second)
	var xlen int64
	for {
		for range every {
			if _, err := logs[0].Submit([]byte("tick")); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if xlen, err = nodes[0].rdb.XLen(ctx, key).Result(); err != nil {
			t.Fatal(err)
		}
		if xlen <= 3*every || time.Now().After(deadline) {
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	if xlen > 3*every {
		t.Fatalf("stream holds %d entries after %d ops with a snapshot every %d, want at most %d", xlen, ops, every, 3*every)
	}
	snap, err := nodes[0].rdb.HGet(ctx, key+":snap", "id").Result()
	if err != nil {
		t.Fatalf("no snapshot in Redis: %v", err)
	}
	// A node joining now starts from the snapshot.
	_, l4, st4 := open("n3")
	if _, err := l4.Submit([]byte("last")); err != nil {
		t.Fatal(err)
	}
	// Every node applies every entry: wait until they all have.
	want, _ := st4.get()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		caught := true
		for _, st := range states {
			if n, _ := st.get(); n < want {
				caught = false
			}
		}
		if caught {
			break
		}
	}
	n4, h4 := st4.get()
	for i, st := range states {
		if n, h := st.get(); n != n4 || h != h4 {
			t.Errorf("node n%d applied %d entries (hash %x), the joining node %d (hash %x)", i, n, h, n4, h4)
		}
	}
	t.Logf("stream: %d entries after %d ops; snapshot at %s; joined node at %d entries", xlen, n4, snap, n4)
}
