package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/internal/kamailiotest"
	"hotline/internal/proctest"
)

// TestE2EEdgeFailedLoginsBlockOnlyTheAgent: phones register through the
// shipped Kamailio edge, so every REGISTER comes from the edge's address.
// alice's phone fails five times with a wrong password. Without
// sip.registrar.trusted_proxies that blocks the edge's address and bob,
// with the right password, is refused too; with the edge trusted, only
// alice is blocked and bob registers.
func TestE2EEdgeFailedLoginsBlockOnlyTheAgent(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name    string
		trusted string
		bobOK   bool
	}{
		{"untrusted edge", "[]", false},
		{"trusted edge", "[127.0.0.1/32]", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := net.JoinHostPort("127.0.0.1", freeSIPPort(t))
			dir := t.TempDir()
			rtpMin, _ := proctest.FreeUDPRange(t, 200)
			cfg := reloadConfig(addr, dir, rtpMin, `{number: "1900"}`,
				`{username: alice, password: alice-secret}, {username: bob, password: bob-secret}`, `{name: general}`, `{name: all, queue: general}`)
			cfg = strings.Replace(cfg, "sip:\n  listen:", "sip:\n  registrar: {trusted_proxies: "+tc.trusted+"}\n  listen:", 1)
			p := startProcess(t, cfg)
			edge := kamailiotest.Start(t, kamailiotest.Options{Nodes: []string{addr}})
			register := func(user, pass string) error {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				b := e2e.StartBaresip(t, e2e.BaresipOptions{User: user, Password: pass, Registrar: edge.Addr, ToneHz: agentHz})
				defer b.Stop()
				return b.WaitRegistered(ctx)
			}
			for i := 1; i <= 5; i++ {
				if err := register("alice", "guess"); !errors.Is(err, e2e.ErrRegisterFailed) {
					t.Fatalf("wrong password %d: %v, want a failed registration", i, err)
				}
			}
			waitFor(t, 5*time.Second, "the block", func() bool {
				return strings.Contains(p.logs.String(), `msg="blocking after repeated authentication failures"`)
			})
			if err := register("alice", "alice-secret"); !errors.Is(err, e2e.ErrRegisterFailed) {
				t.Errorf("alice with her password after five failures: %v, want blocked", err)
			}
			err := register("bob", "bob-secret")
			if tc.bobOK && err != nil {
				t.Errorf("bob behind the trusted edge: %v, want registered (alice's failures are not his)", err)
			}
			if !tc.bobOK && !errors.Is(err, e2e.ErrRegisterFailed) {
				t.Errorf("bob behind the untrusted edge: %v, want refused (the edge's address is blocked)", err)
			}
			ipBlocked := strings.Contains(p.logs.String(), fmt.Sprintf("key=ip:%s", "127.0.0.1"))
			if ipBlocked == tc.bobOK {
				t.Errorf("the edge's address blocked: %v, want %v", ipBlocked, !tc.bobOK)
			}
		})
	}
}
