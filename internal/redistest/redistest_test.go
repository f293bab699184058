package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStartRestart: the server answers, a restart keeps the address and
// comes back empty, a stopped server refuses connections.
func TestStartRestart(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("get = %q, %v", v, err)
	}
	pid := s.PID()
	s.Restart(t)
	if s.PID() == pid || s.PID() == 0 {
		t.Fatalf("restart kept pid %d -> %d", pid, s.PID())
	}
	if _, err := c.Get(ctx, "k").Result(); err != redis.Nil {
		t.Fatalf("after restart get err = %v, want redis.Nil (empty server)", err)
	}
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping succeeded on a killed server")
	}
}
