package acd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"

	"hotline/cluster"
	"hotline/internal/redistest"
	"hotline/routing/config"
)

// The ACD tests run against every ACD backend, so that they cannot drift
// apart: TestMain runs the package's tests once on the one-node ACD, then
// runs the ACD tests again in a child process with acdBackendEnv set:
// "redis" (two replicas sharing their log in a real redis-server through
// package cluster) or, with -short, "replicated" (two replicas sharing an
// in-process log). Every fixture of a replicated run checks at its end
// (and the randomised test after every step) that the replicas agree.
const acdBackendEnv = "HOTLINE_ACD_BACKEND"

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && os.Getenv(acdBackendEnv) == "" {
		code = rerunOnBackend()
	}
	os.Exit(code)
}

// rerunOnBackend runs the ACD tests (or the tests -run asked for) again
// on the replicated backend.
func rerunOnBackend() int {
	backend := "redis"
	run := "ACD"
	var args []string
	for _, a := range os.Args[1:] {
		switch {
		case strings.HasPrefix(a, "-test.run="):
			run = strings.TrimPrefix(a, "-test.run=")
			continue
		case a == "-test.short=true" || a == "-test.short":
			backend = "replicated"
		}
		args = append(args, a)
	}
	args = append(args, "-test.run="+run)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), acdBackendEnv+"="+backend)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Printf("=== routing/acd: ACD tests again on the %q backend\n", backend)
	if err := cmd.Run(); err != nil {
		fmt.Printf("--- FAIL: ACD tests on the %q backend: %v\n", backend, err)
		return 1
	}
	return 0
}

// buildACD builds the ACD a test uses: one node, or the first of two
// replicas on the backend of acdBackendEnv, and the other replicas.
func buildACD(t testing.TB, c *config.Config, o Options) (*ACD, []*ACD) {
	t.Helper()
	backend := os.Getenv(acdBackendEnv)
	if backend == "" {
		a, err := New(c, o)
		if err != nil {
			t.Fatal(err)
		}
		return a, nil
	}
	replicas := make([]*ACD, 2)
	switch backend {
	case "replicated":
		l := &memLog{}
		for i := range replicas {
			o.Replication = memHandle{l, i}
			a, err := New(c, o)
			if err != nil {
				t.Fatal(err)
			}
			replicas[i] = a
			l.replicas = append(l.replicas, a)
		}
	case "redis":
		srv := redistest.Start(t)
		for i := range replicas {
			cc := cluster.Config{RedisURL: srv.URL(), Node: fmt.Sprintf("n%d", i)}
			cc.SetDefaults("")
			node, err := cluster.Join(context.Background(), cc, cluster.Options{Shared: []byte("routing test")})
			if err != nil {
				t.Fatal(err)
			}
			lazy := &lazyLog{}
			o.Replication = lazy
			a, err := New(c, o)
			if err != nil {
				t.Fatal(err)
			}
			l, err := node.OpenLog(context.Background(), "acd", a.ApplyOp)
			if err != nil {
				t.Fatal(err)
			}
			lazy.l = l
			t.Cleanup(func() { l.Close(); _ = node.Close(context.Background()) })
			replicas[i] = a
		}
	default:
		t.Fatalf("%s=%q: want redis or replicated", acdBackendEnv, backend)
	}
	return replicas[0], replicas[1:]
}

// checkPeersAtEnd makes the test fail if the replicas disagree when it
// ends, unless the test probed the first one's internals (probed).
func (f *acdFixture) checkPeersAtEnd() {
	f.t.Cleanup(func() {
		if f.probed {
			return
		}
		if err := checkPeers(f.acd, f.peers); err != nil {
			f.t.Errorf("replicas disagree at the end: %v", err)
		}
	})
}

// mirrorPending gives p's calls the pending flags of a's: the test takes
// offers (Next) from a only, while on a replica that does not own a call
// nobody does.
func mirrorPending(a, p *ACD) {
	a.mu.Lock()
	pending := map[string]bool{}
	for _, c := range a.live {
		pending[c.id] = c.pending
	}
	a.mu.Unlock()
	p.mu.Lock()
	for _, c := range p.live {
		c.pending = pending[c.id]
	}
	p.mu.Unlock()
}

// checkPeers says how peers differ from a (agents, calls, queues).
func checkPeers(a *ACD, peers []*ACD) error {
	for i, p := range peers {
		if err := p.Sync(); err != nil {
			return err
		}
		if got, want := p.Agents(), a.Agents(); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("replica %d agents:\n%+v\nwant\n%+v", i+1, got, want)
		}
		if got, want := p.Calls(), a.Calls(); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("replica %d calls:\n%+v\nwant\n%+v", i+1, got, want)
		}
		if got, want := p.Queues(), a.Queues(); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("replica %d queues:\n%+v\nwant\n%+v", i+1, got, want)
		}
	}
	return nil
}

// memLog is a shared log of replicas in one process: Submit applies the
// op to every replica in turn, in one order.
type memLog struct {
	mu       sync.Mutex
	replicas []*ACD
}

type memHandle struct {
	l *memLog
	i int
}

func (h memHandle) Submit(op []byte) (any, error) {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	var mine any
	for i, r := range h.l.replicas {
		res := r.ApplyOp(fmt.Sprintf("n%d", h.i), op)
		if i == h.i {
			mine = res
		}
	}
	return mine, nil
}

// lazyLog is a cluster.Log known only after the ACD it feeds exists.
type lazyLog struct{ l *cluster.Log }

func (z *lazyLog) Submit(op []byte) (any, error) { return z.l.Submit(op) }
