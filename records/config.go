package records

import (
	"errors"
	"os"
	"strings"
	"time"

	"hotline/internal/cfg"
)

// Backend names.
const (
	BackendFile     = "file"
	BackendPostgres = "postgres"
)

// Config is the records section of the configuration.
type Config struct {
	// Backend is "file" (default: JSON lines in File.Dir, no server) or
	// "postgres".
	Backend string `yaml:"backend"`
	// SpoolDir keeps batches the backend could not take until they are
	// replayed (default data/records-spool).
	SpoolDir string `yaml:"spool_dir"`
	// StateDir keeps service state that must survive a restart
	// (registrations, agent states), one JSON file per kind (default
	// data/state); with postgres it is also in the state table.
	StateDir string `yaml:"state_dir"`
	// BatchSize is the most records written at once (default 500);
	// FlushInterval the longest a record waits in the buffer (default
	// 200ms).
	BatchSize     int           `yaml:"batch_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// RetryInterval is how often a spool is retried while the backend is
	// down (default 2s).
	RetryInterval time.Duration  `yaml:"retry_interval"`
	File          FileConfig     `yaml:"file"`
	Postgres      PostgresConfig `yaml:"postgres"`
}

// FileConfig configures the file backend.
type FileConfig struct {
	// Dir holds one JSON-lines file per UTC day (default data/records).
	Dir string `yaml:"dir"`
	// LookBackDays bounds how many days a history query without "from"
	// reads (default 31).
	LookBackDays int `yaml:"look_back_days"`
}

// PostgresConfig configures the postgres backend.
type PostgresConfig struct {
	// DSN is a libpq connection string or URL, e.g.
	// postgres://hotline@127.0.0.1:5432/hotline?sslmode=disable. It
	// defaults to the HOTLINE_POSTGRES_DSN environment variable; a
	// password may also come from PGPASSWORD or ~/.pgpass.
	DSN string `yaml:"dsn"`
	// PasswordFile, when set, holds the password (surrounding white
	// space ignored), so that the DSN need not.
	PasswordFile string `yaml:"password_file"`
	// MaxConns bounds the connection pool (default 4).
	MaxConns int32 `yaml:"max_conns"`
	// Migrate applies pending migrations at start (default true); false
	// leaves it to `hotline migrate` and refuses to start on an old schema.
	Migrate *bool `yaml:"migrate"`
	// QueryTimeout bounds one history query (default 5s).
	QueryTimeout time.Duration `yaml:"query_timeout"`
}

// SetDefaults fills what is not configured.
func (c *Config) SetDefaults() {
	if c.Backend == "" {
		c.Backend = BackendFile
	}
	if c.SpoolDir == "" {
		c.SpoolDir = "data/records-spool"
	}
	if c.StateDir == "" {
		c.StateDir = "data/state"
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 2 * time.Second
	}
	if c.File.Dir == "" {
		c.File.Dir = "data/records"
	}
	if c.File.LookBackDays == 0 {
		c.File.LookBackDays = 31
	}
	if c.Postgres.DSN == "" {
		c.Postgres.DSN = os.Getenv("HOTLINE_POSTGRES_DSN")
	}
	if c.Postgres.MaxConns == 0 {
		c.Postgres.MaxConns = 4
	}
	if c.Postgres.Migrate == nil {
		t := true
		c.Postgres.Migrate = &t
	}
	if c.Postgres.QueryTimeout == 0 {
		c.Postgres.QueryTimeout = 5 * time.Second
	}
}

// Validate reports every wrong field.
func (c *Config) Validate() error {
	var errs []error
	switch c.Backend {
	case BackendFile:
	case BackendPostgres:
		if strings.TrimSpace(c.Postgres.DSN) == "" {
			errs = append(errs, cfg.Errorf("postgres.dsn", "required with backend postgres (or set HOTLINE_POSTGRES_DSN)"))
		}
	default:
		errs = append(errs, cfg.Errorf("backend", "%q is not one of file, postgres", c.Backend))
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		errs = append(errs, cfg.Errorf("batch_size", "%d is not between 1 and 10000", c.BatchSize))
	}
	if c.FlushInterval < time.Millisecond || c.FlushInterval > time.Minute {
		errs = append(errs, cfg.Errorf("flush_interval", "%s is not between 1ms and 1m", c.FlushInterval))
	}
	if c.RetryInterval < 10*time.Millisecond || c.RetryInterval > 10*time.Minute {
		errs = append(errs, cfg.Errorf("retry_interval", "%s is not between 10ms and 10m", c.RetryInterval))
	}
	if c.File.LookBackDays < 1 || c.File.LookBackDays > 3660 {
		errs = append(errs, cfg.Errorf("file.look_back_days", "%d is not between 1 and 3660", c.File.LookBackDays))
	}
	if c.Postgres.MaxConns < 1 || c.Postgres.MaxConns > 100 {
		errs = append(errs, cfg.Errorf("postgres.max_conns", "%d is not between 1 and 100", c.Postgres.MaxConns))
	}
	if c.Postgres.QueryTimeout <= 0 {
		errs = append(errs, cfg.Errorf("postgres.query_timeout", "must be positive"))
	}
	return errors.Join(errs...)
}
