package media

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"hotline/internal/cfg"
)

// Sentinel errors.
var (
	// ErrTimeout is a leg's Err when it ended because no RTP arrived for
	// the configured timeout.
	ErrTimeout = errors.New("media: no RTP received")
	// ErrNoPorts is returned by NewLeg when every port pair of the range is
	// in use.
	ErrNoPorts = errors.New("media: no free RTP port")
)

// Config is the rtp section of the configuration.
type Config struct {
	// IP is the address RTP sockets are bound to.
	IP string `yaml:"ip"`
	// AnnounceIP is the address written in SDP when it differs from IP
	// (NAT). Empty means IP.
	AnnounceIP string `yaml:"announce_ip"`
	// PortMin is the first RTP port; it must be even.
	PortMin int `yaml:"port_min"`
	// PortMax is the last port of the range (RTP or RTCP).
	PortMax int `yaml:"port_max"`
	// Timeout ends a leg (with ErrTimeout) that has received no RTP for
	// this long. Zero in the file means the default; a negative value
	// disables the check.
	Timeout time.Duration `yaml:"timeout"`
	// HoldTimeout replaces Timeout while the peer has the call on hold.
	// Zero in the file means the default; a negative value disables it.
	HoldTimeout time.Duration `yaml:"hold_timeout"`
	// Readers is how many goroutines read the legs' RTP sockets, shared
	// between legs: 0 (the default) means one per core (GOMAXPROCS); -1
	// gives every leg a goroutine of its own (as before shared readers), which
	// leaves signalling waiting behind thousands of RTP goroutines under
	// load. Without recvmmsg (not Linux) every leg has its own.
	Readers int `yaml:"readers"`
	// Kernel relays bridged calls' audio in the kernel (a TC program on
	// the interfaces RTP arrives on; Linux 6.6 or later, CAP_BPF and
	// CAP_NET_ADMIN): a caller's packets go to the agent without passing
	// through Hotline's sockets, and a copy of each reaches the recorder
	// through a ring buffer. Legs that need transcoding, a monitor's mix,
	// IPv6, telephone-events, or packets longer than 320 bytes stay in user
	// space. KernelAuto (the default) uses it where the system allows and
	// relays in user space otherwise; KernelOn refuses to start without
	// it; KernelOff never uses it.
	Kernel KernelMode `yaml:"kernel"`
}

// KernelMode is rtp.kernel.
type KernelMode string

// The rtp.kernel modes.
const (
	KernelAuto KernelMode = "auto"
	KernelOn   KernelMode = "on"
	KernelOff  KernelMode = "off"
)

// UnmarshalText takes auto, on and off, and YAML's true and false for on
// and off.
func (m *KernelMode) UnmarshalText(b []byte) error {
	switch s := KernelMode(b); s {
	case KernelAuto, KernelOn, KernelOff, "":
		*m = s
	case "true":
		*m = KernelOn
	case "false":
		*m = KernelOff
	default:
		return fmt.Errorf("must be auto, on or off, got %q", s)
	}
	return nil
}

// maxReaders bounds rtp.readers.
const maxReaders = 256

// Defaults.
const (
	DefaultIP          = "127.0.0.1"
	DefaultPortMin     = 20000
	DefaultPortMax     = 29999
	DefaultTimeout     = 30 * time.Second
	DefaultHoldTimeout = time.Hour
)

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.IP == "" {
		c.IP = DefaultIP
	}
	if c.PortMin == 0 {
		c.PortMin = DefaultPortMin
	}
	if c.PortMax == 0 {
		c.PortMax = DefaultPortMax
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HoldTimeout == 0 {
		c.HoldTimeout = DefaultHoldTimeout
	}
	if c.Kernel == "" {
		c.Kernel = KernelAuto
	}
}

// Validate reports every problem in the rtp section.
func (c *Config) Validate() error {
	var errs []error
	ip, err := netip.ParseAddr(c.IP)
	if err != nil {
		errs = append(errs, cfg.Errorf("ip", "%q is not an IP address", c.IP))
	} else if ip.Zone() != "" {
		errs = append(errs, cfg.Errorf("ip", "%q: zones are not supported", c.IP))
	}
	if c.AnnounceIP != "" {
		a, err := netip.ParseAddr(c.AnnounceIP)
		switch {
		case err != nil:
			errs = append(errs, cfg.Errorf("announce_ip", "%q is not an IP address", c.AnnounceIP))
		case a.IsUnspecified():
			errs = append(errs, cfg.Errorf("announce_ip", "%q cannot be announced in SDP", c.AnnounceIP))
		}
	} else if err == nil && ip.IsUnspecified() {
		errs = append(errs, cfg.Errorf("announce_ip", "required when ip is %s", c.IP))
	}
	if c.PortMin < 1024 || c.PortMin > 65534 {
		errs = append(errs, cfg.Errorf("port_min", "must be between 1024 and 65534, got %d", c.PortMin))
	} else if c.PortMin%2 != 0 {
		errs = append(errs, cfg.Errorf("port_min", "must be even, got %d", c.PortMin))
	}
	if c.PortMax <= c.PortMin || c.PortMax > 65535 {
		errs = append(errs, cfg.Errorf("port_max", "must be greater than port_min (%d) and at most 65535, got %d", c.PortMin, c.PortMax))
	}
	if err := new(KernelMode).UnmarshalText([]byte(c.Kernel)); err != nil {
		errs = append(errs, cfg.Errorf("kernel", "%v", err))
	}
	if c.Readers < -1 || c.Readers > maxReaders {
		errs = append(errs, cfg.Errorf("readers", "must be -1 (a goroutine per leg), 0 (one per core) or up to %d, got %d", maxReaders, c.Readers))
	}
	return errors.Join(errs...)
}

// bindAddr and announceAddr are the parsed IP and AnnounceIP.
func (c *Config) addrs() (bind, announce netip.Addr, err error) {
	bind, err = netip.ParseAddr(c.IP)
	if err != nil {
		return bind, announce, cfg.Errorf("ip", "%q is not an IP address", c.IP)
	}
	bind = bind.Unmap()
	announce = bind
	if c.AnnounceIP != "" {
		announce, err = netip.ParseAddr(c.AnnounceIP)
		if err != nil {
			return bind, announce, cfg.Errorf("announce_ip", "%q is not an IP address", c.AnnounceIP)
		}
		announce = announce.Unmap()
	}
	return bind, announce, nil
}
