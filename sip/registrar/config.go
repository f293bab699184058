package registrar

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"hotline/internal/cfg"
)

// Config configures the registrar.
type Config struct {
	// Realm is the digest authentication realm; default "hotline".
	Realm string `yaml:"realm"`
	// DefaultExpires is granted when a REGISTER carries no expiry at all;
	// default 3600s.
	DefaultExpires time.Duration `yaml:"default_expires"`
	// MinExpires is the shortest non-zero registration accepted; shorter
	// requests get 423 Interval Too Brief with Min-Expires. Default 60s.
	MinExpires time.Duration `yaml:"min_expires"`
	// MaxExpires caps the registration interval; longer requests are cut
	// down to it. Default 3600s.
	MaxExpires time.Duration `yaml:"max_expires"`
	// NonceTTL is how long a digest nonce stays valid; default 5m.
	NonceTTL time.Duration `yaml:"nonce_ttl"`
	// Algorithms are the digest algorithms challenged with, one
	// WWW-Authenticate each, in this order; clients answer the first one
	// they support. Default [MD5]: baresip 1.0 (Debian 12) fails to
	// register when any challenge names SHA-256, and older Linphone and
	// Zoiper only know MD5. Use [SHA-256, MD5] or [SHA-256] when every
	// phone supports RFC 8760. Answers with other algorithms are refused.
	Algorithms []string `yaml:"algorithms"`
	// MaxFailures failed authentications (wrong password, unknown user)
	// from one source address, or for one username, within FailureWindow
	// block that address or username for BlockFor, like fail2ban on a
	// PBX: blocked requests get 403 with Retry-After. Defaults 5, 1m, 5m;
	// a negative MaxFailures disables blocking.
	MaxFailures   int           `yaml:"max_failures"`
	FailureWindow time.Duration `yaml:"failure_window"`
	BlockFor      time.Duration `yaml:"block_for"`
	// TrustedProxies are the addresses (CIDRs or IPs) of the SIP proxies
	// phones register through (Kamailio in front of several nodes).
	// Failures of requests from them are counted by the address the proxy
	// recorded for the phone (the Path's received parameter, else the
	// received parameter or sent-by host of the first Via not from a
	// trusted proxy), else by username only: never by the proxy's
	// address, which every phone behind it shares.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// trustedProxies parses TrustedProxies.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				errs = append(errs, cfg.Errorf(fmt.Sprintf("trusted_proxies[%d]", i), "must be a CIDR (10.0.0.0/24) or an IP address, got %q", s))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, errors.Join(errs...)
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.Realm == "" {
		c.Realm = "hotline"
	}
	if c.DefaultExpires == 0 {
		c.DefaultExpires = 3600 * time.Second
	}
	if c.MinExpires == 0 {
		c.MinExpires = 60 * time.Second
	}
	if c.MaxExpires == 0 {
		c.MaxExpires = 3600 * time.Second
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = 5 * time.Minute
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{algMD5}
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = time.Minute
	}
	if c.BlockFor == 0 {
		c.BlockFor = 5 * time.Minute
	}
	for i, a := range c.Algorithms {
		c.Algorithms[i] = strings.ToUpper(a)
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Realm == "" {
		errs = append(errs, cfg.Errorf("realm", "must not be empty"))
	} else if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		errs = append(errs, cfg.Errorf("realm", "must not contain quotes, backslashes or line breaks, got %q", c.Realm))
	}
	if c.MinExpires < time.Second {
		errs = append(errs, cfg.Errorf("min_expires", "must be at least 1s, got %s", c.MinExpires))
	}
	if c.MaxExpires < c.MinExpires {
		errs = append(errs, cfg.Errorf("max_expires", "must be at least min_expires (%s), got %s", c.MinExpires, c.MaxExpires))
	}
	if c.DefaultExpires < c.MinExpires || c.DefaultExpires > c.MaxExpires {
		errs = append(errs, cfg.Errorf("default_expires", "must be between min_expires (%s) and max_expires (%s), got %s",
			c.MinExpires, c.MaxExpires, c.DefaultExpires))
	}
	if c.MaxFailures > 0 && (c.FailureWindow < time.Second || c.BlockFor < time.Second) {
		errs = append(errs, cfg.Errorf("failure_window", "failure_window and block_for must be at least 1s"))
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if c.NonceTTL < time.Second {
		errs = append(errs, cfg.Errorf("nonce_ttl", "must be at least 1s, got %s", c.NonceTTL))
	}
	if len(c.Algorithms) == 0 {
		errs = append(errs, cfg.Errorf("algorithms", "at least one algorithm is required"))
	}
	for i, a := range c.Algorithms {
		switch {
		case a != algSHA256 && a != algMD5:
			errs = append(errs, cfg.Errorf(fmt.Sprintf("algorithms[%d]", i), "must be SHA-256 or MD5, got %q", a))
		case slices.Index(c.Algorithms, a) != i:
			errs = append(errs, cfg.Errorf(fmt.Sprintf("algorithms[%d]", i), "duplicate %q", a))
		}
	}
	return errors.Join(errs...)
}
