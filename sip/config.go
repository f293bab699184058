// Package sip is Hotline's signalling side: a SIP back-to-back user agent
// that answers hotline calls, keeps agents' softphones registered, rings
// agents, bridges the legs and anchors their media. It uses sip/media for
// RTP, sip/sdp for offer/answer and sip/registrar for agent
// registrations. Call control is callflow's: the scripts, the routing
// services (callflow.Routes: rules, directory, callbacks, ACD), the
// survey and the call metrics reach sip through callflow. sip sees no
// ACD type: the queued call it rings agents for and transfers is
// callflow's (callflow.QueuedCall, callflow.Offer).
package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"hotline/internal/cfg"
	"hotline/sip/overload"
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
	// TransactionLinger is how long a finished SIP transaction is kept to
	// absorb late retransmissions, and how long a 200 OK is retransmitted
	// waiting for its ACK (Kamailio's wt_timer, 5 s, the default; at most
	// RFC 3261's 64×T1, 32 s). Process-wide: sipgo's timers are shared
	// by every server in the process (linger.go).
	TransactionLinger time.Duration `yaml:"transaction_linger"`
	// Trunks lists the addresses (IPs or CIDRs, e.g. the carrier's SBC)
	// calls are accepted from. Empty: calls from anywhere.
	Trunks []string `yaml:"trunks"`
	// AuthenticateCalls also accepts calls from outside Trunks when they
	// authenticate (digest, as an agent); without it they get 403.
	AuthenticateCalls bool `yaml:"authenticate_calls"`
	// Overload configures overload control: when Hotline counts itself
	// saturated, new calls get 503 with Retry-After at once.
	Overload overload.Config `yaml:"overload"`
	// Registrar configures agents' registrations.
	Registrar registrar.Config `yaml:"registrar"`
	// Outbound is where callbacks are dialled and transfers to outside
	// numbers go; without a gateway no callback is placed (they stay
	// listed, pending) and no outside transfer is made.
	Outbound Outbound `yaml:"outbound"`
	// AgentOffer is what an agent's phone shows of an offered call: a
	// display-name template and CTI headers (offer.go).
	AgentOffer AgentOffer `yaml:"agent_offer"`
}

// Outbound configures the gateway (SIP trunk) that customers are called
// back through (the callback dialer, and how often they are tried) and
// that blind transfers to outside numbers go through. Only the numbers of
// stored callbacks and transfer targets within AllowedPrefixes are ever
// dialled.
type Outbound struct {
	// Gateway is host:port of the SIP gateway; empty disables the dialer.
	Gateway string `yaml:"gateway"`
	// Transport to the gateway: udp (default), tcp or tls; Hotline must
	// listen on it.
	Transport string `yaml:"transport"`
	// From is the caller ID customers see (a hotline number): the user
	// part of the From header.
	From string `yaml:"from"`
	// Username and Password answer a digest challenge of the gateway.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// AllowedPrefixes, when set, limit the numbers dialled to those
	// starting with one of them (e.g. ["+84", "0"]); others fail.
	AllowedPrefixes []string `yaml:"allowed_prefixes"`
	// RingTimeout is how long the customer's (or an outside transfer
	// target's) phone rings; default 30s.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// MaxAttempts is how many calls are placed to the customer before
	// the callback fails; default 3.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryDelay is the wait after the first unsuccessful attempt,
	// doubled after each further one up to MaxRetryDelay (and moved out
	// of closed hours and quiet hours); defaults 10m and 2h.
	RetryDelay    time.Duration `yaml:"retry_delay"`
	MaxRetryDelay time.Duration `yaml:"max_retry_delay"`
	// Interval is how often due callbacks are looked for; default 5s.
	Interval time.Duration `yaml:"interval"`
}

// Enabled reports whether callbacks are dialled.
func (o *Outbound) Enabled() bool { return o.Gateway != "" }

func (o *Outbound) setDefaults() {
	o.Transport = strings.ToLower(o.Transport)
	if o.Transport == "" {
		o.Transport = "udp"
	}
	if o.RingTimeout == 0 {
		o.RingTimeout = 30 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 10 * time.Minute
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 2 * time.Hour
	}
	if o.Interval == 0 {
		o.Interval = 5 * time.Second
	}
}

// dialable says whether s looks like a phone number: an optional + and
// 3 to 20 digits. Nothing else may go into a Request-URI to the gateway.
func dialable(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < 3 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validate checks the outbound section; listeners are Hotline's.
func (o *Outbound) validate(listeners []Listener) error {
	if !o.Enabled() {
		return nil
	}
	var errs []error
	host, port, err := net.SplitHostPort(o.Gateway)
	switch {
	case err != nil:
		errs = append(errs, cfg.Errorf("gateway", "%q is not host:port", o.Gateway))
	case host == "" || strings.ContainsAny(host, "/ @;<>\""):
		errs = append(errs, cfg.Errorf("gateway", "%q has no usable host", o.Gateway))
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, cfg.Errorf("gateway", "bad port %q", port))
		}
	}
	switch o.Transport {
	case "udp", "tcp", "tls":
		listening := false
		for _, l := range listeners {
			listening = listening || l.Transport == o.Transport
		}
		if !listening {
			errs = append(errs, cfg.Errorf("transport", "%s needs a %s listener in sip.listen", o.Transport, o.Transport))
		}
	default:
		errs = append(errs, cfg.Errorf("transport", "%q is not one of udp, tcp, tls", o.Transport))
	}
	if o.From == "" {
		errs = append(errs, cfg.Errorf("from", "required with a gateway: the number customers see"))
	} else if !dialable(o.From) {
		errs = append(errs, cfg.Errorf("from", "%q is not a number (+ and 3 to 20 digits)", o.From))
	}
	if o.Password != "" && o.Username == "" {
		errs = append(errs, cfg.Errorf("username", "required with a password"))
	}
	for i, p := range o.AllowedPrefixes {
		if t := strings.TrimPrefix(p, "+"); t == "" || strings.Trim(t, "0123456789") != "" {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("allowed_prefixes[%d]", i), "%q is not a number prefix (+ and digits)", p))
		}
	}
	if o.RingTimeout < time.Second {
		errs = append(errs, cfg.Errorf("ring_timeout", "must be at least 1s, got %s", o.RingTimeout))
	}
	if o.MaxAttempts < 1 {
		errs = append(errs, cfg.Errorf("max_attempts", "must be at least 1, got %d", o.MaxAttempts))
	}
	if o.RetryDelay < time.Second {
		errs = append(errs, cfg.Errorf("retry_delay", "must be at least 1s, got %s", o.RetryDelay))
	}
	if o.MaxRetryDelay < o.RetryDelay {
		errs = append(errs, cfg.Errorf("max_retry_delay", "must be at least retry_delay (%s), got %s", o.RetryDelay, o.MaxRetryDelay))
	}
	if o.Interval < 100*time.Millisecond {
		errs = append(errs, cfg.Errorf("interval", "must be at least 100ms, got %s", o.Interval))
	}
	return errors.Join(errs...)
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
	if c.TransactionLinger == 0 {
		c.TransactionLinger = defaultLinger
	}
	c.Registrar.SetDefaults()
	c.Overload.SetDefaults()
	c.Outbound.setDefaults()
	c.AgentOffer.setDefaults()
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
	if c.TransactionLinger < time.Second || c.TransactionLinger > maxLinger {
		errs = append(errs, cfg.Errorf("transaction_linger", "must be between 1s and %s (64×T1), got %s", maxLinger, c.TransactionLinger))
	}
	if _, err := c.trunkPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Overload.Validate(); err != nil {
		errs = append(errs, cfg.Prefix("overload", err))
	}
	if err := c.Registrar.Validate(); err != nil {
		errs = append(errs, cfg.Prefix("registrar", err))
	}
	if err := c.Outbound.validate(c.Listen); err != nil {
		errs = append(errs, cfg.Prefix("outbound", err))
	}
	if err := c.AgentOffer.Validate(); err != nil {
		errs = append(errs, cfg.Prefix("agent_offer", err))
	}
	return errors.Join(errs...)
}
