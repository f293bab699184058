package recording

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"hotline/internal/cfg"
)

// Backend names.
const (
	BackendFile = "file"
	BackendS3   = "s3"
)

// Config is the recording section of the configuration.
type Config struct {
	// Start is when a call's recording starts: "bridge" (default) or
	// "answer" (the queue included).
	Start string `yaml:"start"`
	// Policy decides which calls are recorded.
	Policy Policy `yaml:"policy"`
	// Backend is where finished recordings are stored: "file" (a local
	// directory, the default) or "s3" (any S3-compatible object store).
	Backend string `yaml:"backend"`
	// SpoolDir is the local directory recordings are written to first.
	// A recording leaves it only once its upload is confirmed.
	SpoolDir string `yaml:"spool_dir"`
	// Format of the WAV files: "pcm16" (default) or "ulaw".
	Format Format `yaml:"format"`
	// KeyTemplate is a text/template for object keys, see KeyData.
	KeyTemplate string `yaml:"key_template"`
	// JitterWindow is how long audio is held back so that late and
	// reordered packets can be put in place.
	JitterWindow time.Duration `yaml:"jitter_window"`
	// QueuePackets bounds each recorder's hand-off buffer from the media
	// goroutines to the mixing goroutine, in packets: beyond it packets
	// are dropped (counted, and silence in the recording). The buffer
	// only grows as far as needed (about 5 packets are handed off every
	// 50 ms per call), so the bound costs no memory; the default, 512, is
	// 2.5 s of a call's audio both ways.
	QueuePackets int `yaml:"queue_packets"`
	// Retention is how long stored recordings are kept; 0 keeps them
	// forever. For s3 it is applied as a bucket lifecycle rule (when
	// s3.set_lifecycle is true), for file by a periodic sweep.
	Retention time.Duration `yaml:"retention"`
	// Upload tunes retries of failed uploads.
	Upload UploadConfig `yaml:"upload"`
	// S3 configures the s3 backend.
	S3 S3Config `yaml:"s3"`
	// File configures the file backend.
	File FileConfig `yaml:"file"`
}

// UploadConfig tunes uploads.
type UploadConfig struct {
	// MinBackoff is the wait after the first failed upload; it doubles
	// with every further failure up to MaxBackoff.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Timeout bounds one upload attempt of one file.
	Timeout time.Duration `yaml:"timeout"`
	// BatchWait (file backend): the uploader starts a batch at most this
	// often, letting finished recordings gather meanwhile, so that one
	// syncfs of the spool and one fsync of each directory cover the whole
	// batch (up to 64, which goes at once). The first after a quiet spell
	// goes at once. Meanwhile they are written but not yet synced: a
	// process crash loses nothing. Default 100ms; negative: each batch as
	// soon as it is seen.
	BatchWait time.Duration `yaml:"batch_wait"`
}

// S3Config configures the s3 backend.
type S3Config struct {
	// Endpoint is host[:port] of the S3 API, e.g. s3.eu-west-1.amazonaws.com
	// or 127.0.0.1:9000.
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	Region   string `yaml:"region"`
	// AccessKey and SecretKey default to the AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY environment variables.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// SecretKeyFile is a file holding the secret key (a Docker or systemd
	// secret; surrounding white space ignored), instead of SecretKey.
	SecretKeyFile string `yaml:"secret_key_file"`
	// UseTLS selects https; set it for anything but a local MinIO.
	UseTLS bool `yaml:"use_tls"`
	// CreateBucket allows Hotline to create the bucket when it is missing.
	CreateBucket bool `yaml:"create_bucket"`
	// SetLifecycle allows Hotline to set a bucket lifecycle rule that
	// expires recordings after Retention.
	SetLifecycle bool `yaml:"set_lifecycle"`
	// DisableChecksum stops sending a CRC-32C with uploads (as an HTTP
	// trailer), for S3-compatible stores that do not support it; stored
	// objects are then confirmed by size only.
	DisableChecksum bool `yaml:"disable_checksum"`
	// PresignExpiry is how long retrieval URLs stay valid.
	PresignExpiry time.Duration `yaml:"presign_expiry"`
}

// FileConfig configures the file backend.
type FileConfig struct {
	// Dir is where recordings are stored, under their keys.
	Dir string `yaml:"dir"`
	// SweepInterval is how often recordings older than Retention are removed.
	SweepInterval time.Duration `yaml:"sweep_interval"`
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.Start == "" {
		c.Start = StartBridge
	}
	if c.Backend == "" {
		c.Backend = BackendFile
	}
	c.Backend = strings.ToLower(c.Backend)
	if c.SpoolDir == "" {
		c.SpoolDir = "data/spool"
	}
	if c.Format == "" {
		c.Format = FormatPCM16
	}
	if c.KeyTemplate == "" {
		c.KeyTemplate = DefaultKeyTemplate
	}
	if c.JitterWindow == 0 {
		c.JitterWindow = 200 * time.Millisecond
	}
	if c.QueuePackets == 0 {
		c.QueuePackets = 512
	}
	if c.Upload.MinBackoff == 0 {
		c.Upload.MinBackoff = time.Second
	}
	if c.Upload.MaxBackoff == 0 {
		c.Upload.MaxBackoff = 5 * time.Minute
	}
	if c.Upload.Timeout == 0 {
		c.Upload.Timeout = 10 * time.Minute
	}
	if c.Upload.BatchWait == 0 {
		c.Upload.BatchWait = 100 * time.Millisecond
	}
	if c.S3.Region == "" {
		c.S3.Region = "us-east-1"
	}
	if c.S3.PresignExpiry == 0 {
		c.S3.PresignExpiry = time.Hour
	}
	if c.File.Dir == "" {
		c.File.Dir = "data/recordings"
	}
	if c.File.SweepInterval == 0 {
		c.File.SweepInterval = time.Hour
	}
}

// Validate reports every problem with the recording configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Start != StartBridge && c.Start != StartAnswer {
		errs = append(errs, cfg.Errorf("start", "%q is not one of bridge, answer", c.Start))
	}
	if err := c.Policy.validate(); err != nil {
		errs = append(errs, cfg.Prefix("policy", err))
	}
	switch c.Backend {
	case BackendFile:
		if c.File.Dir == "" {
			errs = append(errs, cfg.Errorf("file.dir", "required when backend is file"))
		}
		if c.File.SweepInterval < 0 {
			errs = append(errs, cfg.Errorf("file.sweep_interval", "must not be negative, got %s", c.File.SweepInterval))
		}
	case BackendS3:
		s := c.S3
		if s.Endpoint == "" {
			errs = append(errs, cfg.Errorf("s3.endpoint", "required when backend is s3"))
		} else if strings.Contains(s.Endpoint, "://") || strings.Contains(s.Endpoint, "/") {
			errs = append(errs, cfg.Errorf("s3.endpoint", "must be host[:port] without scheme or path (use use_tls for https), got %q", s.Endpoint))
		}
		if s.Bucket == "" {
			errs = append(errs, cfg.Errorf("s3.bucket", "required when backend is s3"))
		}
		if s.AccessKey == "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
			errs = append(errs, cfg.Errorf("s3.access_key", "required when backend is s3 (or set AWS_ACCESS_KEY_ID)"))
		}
		switch {
		case s.SecretKey != "" && s.SecretKeyFile != "":
			errs = append(errs, cfg.Errorf("s3.secret_key_file", "only one of secret_key or secret_key_file may be set"))
		case s.SecretKeyFile != "":
			if _, err := s.secretKey(); err != nil {
				errs = append(errs, cfg.Errorf("s3.secret_key_file", "%v", err))
			}
		case s.SecretKey == "" && os.Getenv("AWS_SECRET_ACCESS_KEY") == "":
			errs = append(errs, cfg.Errorf("s3.secret_key", "required when backend is s3 (or secret_key_file, or set AWS_SECRET_ACCESS_KEY)"))
		}
		if s.PresignExpiry < time.Second || s.PresignExpiry > 7*24*time.Hour {
			errs = append(errs, cfg.Errorf("s3.presign_expiry", "must be between 1s and 168h, got %s", s.PresignExpiry))
		}
	default:
		errs = append(errs, cfg.Errorf("backend", "must be %q or %q, got %q", BackendFile, BackendS3, c.Backend))
	}
	if c.SpoolDir == "" {
		errs = append(errs, cfg.Errorf("spool_dir", "required"))
	}
	if !c.Format.valid() {
		errs = append(errs, cfg.Errorf("format", "must be %q or %q, got %q", FormatPCM16, FormatULaw, c.Format))
	}
	if c.KeyTemplate == "" {
		errs = append(errs, cfg.Errorf("key_template", "required"))
	} else if _, err := parseKeyTemplate(c.KeyTemplate); err != nil {
		errs = append(errs, cfg.Errorf("key_template", "%v", err))
	}
	if c.JitterWindow < 20*time.Millisecond || c.JitterWindow > 2*time.Second {
		errs = append(errs, cfg.Errorf("jitter_window", "must be between 20ms and 2s, got %s", c.JitterWindow))
	}
	if c.QueuePackets < 8 || c.QueuePackets > 4096 {
		errs = append(errs, cfg.Errorf("queue_packets", "must be between 8 and 4096, got %d", c.QueuePackets))
	}
	if c.Retention < 0 {
		errs = append(errs, cfg.Errorf("retention", "must not be negative, got %s", c.Retention))
	} else if c.Retention > 0 && c.Retention < 24*time.Hour && c.Backend == BackendS3 && c.S3.SetLifecycle {
		errs = append(errs, cfg.Errorf("retention", "must be at least 24h for an s3 lifecycle rule (whole days), got %s", c.Retention))
	}
	if c.Upload.MinBackoff <= 0 {
		errs = append(errs, cfg.Errorf("upload.min_backoff", "must be positive, got %s", c.Upload.MinBackoff))
	}
	if c.Upload.MaxBackoff < c.Upload.MinBackoff {
		errs = append(errs, cfg.Errorf("upload.max_backoff", "must be at least min_backoff (%s), got %s", c.Upload.MinBackoff, c.Upload.MaxBackoff))
	}
	if c.Upload.Timeout <= 0 {
		errs = append(errs, cfg.Errorf("upload.timeout", "must be positive, got %s", c.Upload.Timeout))
	}
	if c.Upload.BatchWait > maxBatchWait {
		errs = append(errs, cfg.Errorf("upload.batch_wait", "is at most %s (recordings wait that long in the spool before they are stored), got %s", maxBatchWait, c.Upload.BatchWait))
	}
	return errors.Join(errs...)
}

// secretKey is the S3 secret key: SecretKey, the content of
// SecretKeyFile, or AWS_SECRET_ACCESS_KEY. Errors never show the key.
func (c S3Config) secretKey() (string, error) {
	switch {
	case c.SecretKey != "":
		return c.SecretKey, nil
	case c.SecretKeyFile != "":
		raw, err := os.ReadFile(c.SecretKeyFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("cannot read %s: %w", c.SecretKeyFile, err)
		}
		k := strings.TrimSpace(string(raw))
		if k == "" {
			return "", fmt.Errorf("%s is empty", c.SecretKeyFile)
		}
		return k, nil
	}
	return os.Getenv("AWS_SECRET_ACCESS_KEY"), nil
}
