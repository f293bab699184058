package metrics

import (
	"errors"
	"net"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones even where the system has none (containers)

	"hotline/internal/cfg"
)

// Config is the metrics section of the configuration.
type Config struct {
	// Listen is host:port of the /metrics endpoint; default 127.0.0.1:9464.
	Listen string `yaml:"listen"`
	// Path is the URL path of the endpoint; default /metrics.
	Path string `yaml:"path"`
	// TimeZone is the hotline's IANA time zone (e.g. Asia/Ho_Chi_Minh):
	// hour-of-day and weekday labels are in it. Default UTC.
	TimeZone string `yaml:"time_zone"`
	// Pprof serves Go's profiles (net/http/pprof) under /debug/pprof/ on
	// this listener. Off by default: a profile costs CPU while it runs and
	// shows the program's internals, so enable it only where the metrics
	// listener is not reachable by anyone who should not see them.
	Pprof bool `yaml:"pprof"`
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9464"
	}
	if c.Path == "" {
		c.Path = "/metrics"
	}
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
}

// Validate reports problems in the metrics section.
func (c *Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		errs = append(errs, cfg.Errorf("listen", "%q is not host:port", c.Listen))
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, " ?#") {
		errs = append(errs, cfg.Errorf("path", "%q must be a URL path starting with /", c.Path))
	}
	if _, err := c.Location(); err != nil {
		errs = append(errs, cfg.Errorf("time_zone", "%v", err))
	}
	return errors.Join(errs...)
}

// Location loads the configured time zone.
func (c *Config) Location() (*time.Location, error) {
	if c.TimeZone == "" || strings.EqualFold(c.TimeZone, "local") {
		// "Local" depends on the machine, not the hotline: refuse it.
		if c.TimeZone != "" {
			return nil, errors.New(`"Local" is not allowed: name the hotline's IANA zone, e.g. Asia/Ho_Chi_Minh`)
		}
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, errors.New("unknown IANA time zone " + `"` + c.TimeZone + `"`)
	}
	return loc, nil
}
