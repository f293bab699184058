package cluster

import (
	"errors"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"

	"hotline/internal/cfg"
)

// Config is the cluster section of the configuration. Without RedisURL
// Hotline runs as one node and needs no Redis.
type Config struct {
	// RedisURL is redis://[user:password@]host:port/db of the Redis (or
	// Valkey) every node shares; empty: one node, no Redis.
	RedisURL string `yaml:"redis_url"`
	// Node names this node, unique in the cluster; default the host name.
	Node string `yaml:"node"`
	// Lease is how long what a node owns (its liveness, its agents'
	// reservations) outlives the node's last heartbeat: a dead node's
	// agents are free again at most Lease after it died. Default 15s,
	// between 3s and 30s.
	Lease time.Duration `yaml:"lease"`
	// Heartbeat is how often a node renews its leases and checks that
	// Redis still holds them (a Redis restart is noticed within it).
	// Default 1s; at most Lease/3.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// Settle is how long after a Redis restart no new reservation is
	// granted, so that every node re-publishes the reservations it holds
	// first. Default 3×Heartbeat.
	Settle time.Duration `yaml:"settle"`
	// KeyPrefix is put in front of every key; default "hotline:". Two
	// hotlines may share a Redis with different prefixes.
	KeyPrefix string `yaml:"key_prefix"`
	// SnapshotEvery is how many changes of the shared ACD's log the
	// ticker node takes a snapshot after (and trims the log below it).
	// Default 2000, between 10 and 1000000.
	SnapshotEvery int `yaml:"snapshot_every"`
}

// Enabled says whether the node joins a cluster.
func (c *Config) Enabled() bool { return c.RedisURL != "" }

// SetDefaults fills in unset values.
func (c *Config) SetDefaults(hostname string) {
	if c.Node == "" {
		c.Node = hostname
	}
	if c.Lease == 0 {
		c.Lease = 15 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.Settle == 0 {
		c.Settle = 3 * c.Heartbeat
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "hotline:"
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = defaultSnapshotEvery
	}
}

// defaultSnapshotEvery is SnapshotEvery's default.
const defaultSnapshotEvery = 2000

var nodeNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		errs = append(errs, cfg.Errorf("redis_url", "%v", err))
	}
	if !nodeNameRe.MatchString(c.Node) {
		errs = append(errs, cfg.Errorf("node", "must be 1 to 63 letters, digits, '.', '_' or '-', got %q", c.Node))
	}
	if c.Lease < 3*time.Second || c.Lease > 30*time.Second {
		errs = append(errs, cfg.Errorf("lease", "must be between 3s and 30s, got %s", c.Lease))
	}
	if c.Heartbeat < 10*time.Millisecond || c.Heartbeat > c.Lease/3 {
		errs = append(errs, cfg.Errorf("heartbeat", "must be between 10ms and lease/3 (%s), got %s", c.Lease/3, c.Heartbeat))
	}
	if c.Settle < c.Heartbeat || c.Settle > c.Lease {
		errs = append(errs, cfg.Errorf("settle", "must be between heartbeat (%s) and lease (%s), got %s", c.Heartbeat, c.Lease, c.Settle))
	}
	if c.SnapshotEvery < 10 || c.SnapshotEvery > 1000000 {
		errs = append(errs, cfg.Errorf("snapshot_every", "must be between 10 and 1000000, got %d", c.SnapshotEvery))
	}
	return errors.Join(errs...)
}
