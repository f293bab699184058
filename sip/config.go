// Package sip is Hotline's signalling side: a SIP back-to-back user agent
// that answers hotline calls, keeps agents' softphones registered, rings
// agents, bridges the two legs and anchors their media. It asks the routing
// package which agent to ring and uses sip/media for RTP, sip/sdp for
// offer/answer and sip/registrar for agent registrations.
package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"hotline/internal/cfg"
	"hotline/sip/registrar"
)

// Listener is one address Hotline accepts SIP on.
type Listener struct {
	// Transport is udp, tcp or tls.
	Transport string `yaml:"transport"`
	// Addr is host:port to bind, e.g. 127.0.0.1:5060. Port 0 picks a free port.
	Addr string `yaml:"addr"`
	// CertFile and KeyFile are the PEM certificate chain and key for tls.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Config is the sip section of the configuration.
type Config struct {
	// Listen lists the transports and addresses to accept SIP on.
	Listen []Listener `yaml:"listen"`
	// Host is the address Hotline puts in Contact and Via headers; by
	// default the IP of each listener.
	Host string `yaml:"host"`
	// UserAgent is sent in User-Agent and Server headers.
	UserAgent string `yaml:"user_agent"`
	// MaxCalls is how many calls may be in progress at once; further
	// calls get 503 Service Unavailable with Retry-After.
	MaxCalls int `yaml:"max_calls"`
	// RetryAfter is the Retry-After sent with 503 when Hotline is full or
	// shutting down.
	RetryAfter time.Duration `yaml:"retry_after"`
	// DrainTimeout bounds how long a shutdown waits for calls in progress
	// to finish before hanging them up.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Trunks lists the addresses (IPs or CIDRs, e.g. the carrier's SBC)
	// calls are accepted from. Empty: calls from anywhere.
	Trunks []string `yaml:"trunks"`
	// AuthenticateCalls also accepts calls from outside Trunks when they
	// authenticate (digest, as an agent); without it they get 403.
	AuthenticateCalls bool `yaml:"authenticate_calls"`
	// Registrar configures agents' registrations.
	Registrar registrar.Config `yaml:"registrar"`
}

// trunkPrefixes parses Trunks.
func (c *Config) trunkPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, t := range c.Trunks {
		if p, err := netip.ParsePrefix(t); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(t); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		errs = append(errs, cfg.Errorf(fmt.Sprintf("trunks[%d]", i), "%q is not an IP address or CIDR", t))
	}
	return out, errors.Join(errs...)
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if len(c.Listen) == 0 {
		c.Listen = []Listener{{Transport: "udp", Addr: "127.0.0.1:5060"}, {Transport: "tcp", Addr: "127.0.0.1:5060"}}
	}
	for i := range c.Listen {
		c.Listen[i].Transport = strings.ToLower(c.Listen[i].Transport)
	}
	if c.UserAgent == "" {
		c.UserAgent = "Hotline"
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = 2000
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = 30 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 60 * time.Second
	}
	c.Registrar.SetDefaults()
}

// Validate reports every problem in the sip section.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Listen) == 0 {
		errs = append(errs, cfg.Errorf("listen", "at least one listener is required"))
	}
	for i, l := range c.Listen {
		p := fmt.Sprintf("listen[%d]", i)
		switch l.Transport {
		case "udp", "tcp":
		case "tls":
			if l.CertFile == "" || l.KeyFile == "" {
				errs = append(errs, cfg.Errorf(p, "tls needs cert_file and key_file"))
			}
			for _, f := range []struct{ name, path string }{{"cert_file", l.CertFile}, {"key_file", l.KeyFile}} {
				if f.path == "" {
					continue
				}
				if _, err := os.Stat(f.path); err != nil {
					errs = append(errs, cfg.Errorf(p+"."+f.name, "cannot read %s: %v", f.path, errors.Unwrap(err)))
				}
			}
		default:
			errs = append(errs, cfg.Errorf(p+".transport", "%q is not one of udp, tcp, tls", l.Transport))
		}
		host, port, err := net.SplitHostPort(l.Addr)
		if err != nil {
			errs = append(errs, cfg.Errorf(p+".addr", "%q is not host:port", l.Addr))
			continue
		}
		if net.ParseIP(host) == nil {
			errs = append(errs, cfg.Errorf(p+".addr", "host %q must be an IP address", host))
		}
		if _, err := net.LookupPort("udp", port); err != nil {
			errs = append(errs, cfg.Errorf(p+".addr", "bad port %q", port))
		}
	}
	if strings.ContainsAny(c.Host, ":/ @;") && net.ParseIP(c.Host) == nil {
		errs = append(errs, cfg.Errorf("host", "%q is not an IP address or host name", c.Host))
	}
	if c.MaxCalls < 1 {
		errs = append(errs, cfg.Errorf("max_calls", "must be at least 1, got %d", c.MaxCalls))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, cfg.Errorf("retry_after", "must be at least 1s, got %s", c.RetryAfter))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, cfg.Errorf("drain_timeout", "must not be negative"))
	}
	if _, err := c.trunkPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Registrar.Validate(); err != nil {
		errs = append(errs, cfg.Prefix("registrar", err))
	}
	return errors.Join(errs...)
}
