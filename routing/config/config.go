// Package config is the routing section of the configuration: hotlines,
// agents, queues, rules, the keypad menu and callbacks, with their defaults
// and validation. The sections of the customer directory and schedules are
// owned by their packages (routing/directory, routing/schedule) and
// embedded here.
package config

import (
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"hotline/internal/cfg"
	"hotline/routing/directory"
	"hotline/routing/schedule"
)

// Hotline is one number callers dial.
type Hotline struct {
	// Number is matched against the user part of the Request-URI.
	Number string `yaml:"number"`
	// Name is shown to agents (display name of the offered call) and logged.
	Name string `yaml:"name"`
}

// Agent is one person answering calls from a SIP softphone.
type Agent struct {
	// Username is the SIP digest username and the agent's id.
	Username string `yaml:"username"`
	// Password is the SIP digest password. It is never logged. Exactly one
	// of Password, PasswordFile or HA1/HA1SHA256 is required.
	Password string `yaml:"password"`
	// PasswordFile is a file holding the password (surrounding white space
	// ignored), read at start and at each reload.
	PasswordFile string `yaml:"password_file"`
	// HA1 and HA1SHA256 are the digest hashes of the password,
	// hex MD5 / SHA-256 of "username:realm:password" (hotline passwd
	// prints them), so that no clear-text password is stored.
	HA1       string `yaml:"ha1"`
	HA1SHA256 string `yaml:"ha1_sha256"`
	// filePassword is what PasswordFile held when the file was validated.
	filePassword string
	// Name is the agent's display name.
	Name string `yaml:"name"`
	// Skills are the agent's skills with a level from 1 (novice) to 5.
	Skills map[string]int `yaml:"skills"`
	// Queues the agent answers; empty means every queue.
	Queues []string `yaml:"queues"`
	// Role is empty (an agent) or supervisor: a supervisor may monitor
	// other agents' calls (listen, whisper, barge) and transfer any call
	// through the API (transfer.go).
	Role string `yaml:"role"`
}

// QueueConfig says how waiting callers are served.
type QueueConfig struct {
	// RingTimeout is how long an agent's phone rings before the next agent is tried.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// RetryDelay is how long an agent who did not take a call is left out
	// before being offered the same call again.
	RetryDelay time.Duration `yaml:"retry_delay"`
	// MaxWait is the longest a caller waits for an agent before the call ends.
	MaxWait time.Duration `yaml:"max_wait"`
	// HoldMusic is a WAV file (8 kHz mono, 16-bit PCM or G.711) played in a
	// loop while callers wait. Empty means a built-in soft tone.
	HoldMusic string `yaml:"hold_music"`
	// AutoPauseAfter pauses an agent after this many offers in a row went
	// unanswered (default 3; negative disables).
	AutoPauseAfter int `yaml:"auto_pause_after"`
	// RejoinWindow: a caller who hung up while waiting and calls again
	// within it gets their old place back (default 5m; negative disables).
	RejoinWindow time.Duration `yaml:"rejoin_window"`
	// LoginOnRegister logs an agent in when their softphone registers
	// (default false: registering only makes the phone reachable; agents
	// log in with a feature code or the API).
	LoginOnRegister *bool `yaml:"login_on_register"`
	// Announce is every queue's periodic announcement to waiting callers
	// (their place and estimated wait) unless queues[].announce says
	// otherwise. Default: none.
	Announce AnnounceConfig `yaml:"announce"`
	// CallbackKey is the key a waiting caller presses to leave the queue
	// for a callback that keeps their place, unless queues[].callback_key
	// says otherwise: 0-9, * or #; "none" disables. Default "9".
	CallbackKey string `yaml:"callback_key"`
}

// Config is the routing section of the configuration.
type Config struct {
	Hotlines []Hotline   `yaml:"hotlines"`
	Agents   []Agent     `yaml:"agents"`
	Queue    QueueConfig `yaml:"queue"`

	// The routing engine's sections (see engine_config.go); all optional.
	Directory directory.Config  `yaml:"directory"`
	Schedules []schedule.Config `yaml:"schedules"`
	Queues    []QueueDef        `yaml:"queues"`
	Rules     []RuleConfig      `yaml:"rules"`
	Callbacks CallbackConfig    `yaml:"callbacks"`
	// IVR is what callers are asked by keypad before they queue.
	IVR IVRConfig `yaml:"ivr"`
	// Dispositions are the wrap-up codes agents give their calls.
	Dispositions []Disposition `yaml:"dispositions"`

	// live holds the configuration installed by Reload, which Hotline,
	// Agent and QueueByName answer from (shared by copies of c).
	live *liveConfig
}

type liveConfig struct{ p atomic.Pointer[Config] }

// Disposition is a wrap-up code an agent gives a call after it (an
// outcome such as "sale" or "complaint_logged").
type Disposition struct {
	// Code is the code stored and counted: lower-case letters, digits, _
	// and -, at most 32.
	Code string `yaml:"code"`
	// Name is what people read.
	Name string `yaml:"name"`
	// Key is the digits an agent enters for it on the phone's keypad
	// (optional, 1-3 digits).
	Key string `yaml:"key"`
}

var dispositionCodeRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
var dispositionKeyRE = regexp.MustCompile(`^[0-9]{1,3}$`)

func (c *Config) validateDispositions() error {
	var errs []error
	codes, keys := map[string]int{}, map[string]int{}
	for i, d := range c.Dispositions {
		p := fmt.Sprintf("dispositions[%d]", i)
		if !dispositionCodeRE.MatchString(d.Code) {
			errs = append(errs, cfg.Errorf(p+".code", "%q must be 1-32 lower-case letters, digits, _ or -", d.Code))
		} else if j, dup := codes[d.Code]; dup {
			errs = append(errs, cfg.Errorf(p+".code", "%q is already the code of dispositions[%d]", d.Code, j))
		}
		codes[d.Code] = i
		if d.Key != "" {
			if !dispositionKeyRE.MatchString(d.Key) {
				errs = append(errs, cfg.Errorf(p+".key", "%q must be 1-3 digits", d.Key))
			} else if j, dup := keys[d.Key]; dup {
				errs = append(errs, cfg.Errorf(p+".key", "%q is already the key of dispositions[%d]", d.Key, j))
			}
			keys[d.Key] = i
		}
	}
	return errors.Join(errs...)
}

// DispositionByCode returns the configured wrap-up code code (of the
// configuration in force).
func (c *Config) DispositionByCode(code string) (Disposition, bool) {
	for _, d := range c.current().Dispositions {
		if d.Code == code {
			return d, true
		}
	}
	return Disposition{}, false
}

// DispositionCodes returns the wrap-up codes of the configuration in force.
func (c *Config) DispositionCodes() []Disposition {
	return c.current().Dispositions
}

// Reload installs n, a defaulted and validated configuration, as the one
// Hotline, Agent and QueueByName of c answer from, for the readers that
// hold c (the SIP side looks hotline numbers and agents' secrets up this
// way): hot reload. c must have had SetDefaults called.
func (c *Config) Reload(n *Config) {
	if c.live == nil {
		panic("config: Reload before SetDefaults")
	}
	c.live.p.Store(n)
}

// current is the configuration in force: the last one Reload installed,
// else c itself.
func (c *Config) current() *Config {
	if c.live != nil {
		if n := c.live.p.Load(); n != nil {
			return n
		}
	}
	return c
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.live == nil {
		c.live = &liveConfig{}
	}
	if c.Queue.RingTimeout == 0 {
		c.Queue.RingTimeout = 15 * time.Second
	}
	if c.Queue.RetryDelay == 0 {
		c.Queue.RetryDelay = 5 * time.Second
	}
	if c.Queue.MaxWait == 0 {
		c.Queue.MaxWait = 10 * time.Minute
	}
	if c.Queue.LoginOnRegister == nil {
		off := false
		c.Queue.LoginOnRegister = &off
	}
	c.setEngineDefaults()
}

var numberRE = regexp.MustCompile(`^[0-9A-Za-z+*#._-]+$`)
var usernameRE = regexp.MustCompile(`^[A-Za-z0-9._~!$&'()*+,;=%-]+$`)

// Validate reports every problem with the routing configuration.
func (c *Config) Validate() error {
	var errs []error
	if err := c.validateDispositions(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Hotlines) == 0 {
		errs = append(errs, cfg.Errorf("hotlines", "at least one hotline number is required"))
	}
	seen := map[string]int{}
	for i, h := range c.Hotlines {
		f := fmt.Sprintf("hotlines[%d].number", i)
		switch {
		case h.Number == "":
			errs = append(errs, cfg.Errorf(f, "must not be empty"))
		case !numberRE.MatchString(h.Number):
			errs = append(errs, cfg.Errorf(f, "%q is not a dialable number (digits, letters, + * # . _ -)", h.Number))
		}
		if j, dup := seen[h.Number]; dup && h.Number != "" {
			errs = append(errs, cfg.Errorf(f, "%q is already used by hotlines[%d]", h.Number, j))
		}
		seen[h.Number] = i
	}
	users := map[string]int{}
	for i, a := range c.Agents {
		p := fmt.Sprintf("agents[%d]", i)
		switch {
		case a.Username == "":
			errs = append(errs, cfg.Errorf(p+".username", "must not be empty"))
		case !usernameRE.MatchString(a.Username):
			errs = append(errs, cfg.Errorf(p+".username", "%q has characters not allowed in a SIP user name", a.Username))
		}
		if j, dup := users[a.Username]; dup && a.Username != "" {
			errs = append(errs, cfg.Errorf(p+".username", "%q is already used by agents[%d]", a.Username, j))
		}
		users[a.Username] = i
		if err := c.Agents[i].loadSecret(); err != nil {
			errs = append(errs, cfg.Prefix(p, err))
		}
	}
	q := c.Queue
	if q.RingTimeout < time.Second {
		errs = append(errs, cfg.Errorf("queue.ring_timeout", "must be at least 1s, got %s", q.RingTimeout))
	}
	if q.RetryDelay < 0 {
		errs = append(errs, cfg.Errorf("queue.retry_delay", "must not be negative"))
	}
	if q.MaxWait < time.Second {
		errs = append(errs, cfg.Errorf("queue.max_wait", "must be at least 1s, got %s", q.MaxWait))
	}
	if err := c.validateEngine(); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateTransfers(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Hotline returns the hotline for a dialled number.
func (c *Config) Hotline(number string) (Hotline, bool) {
	for _, h := range c.current().Hotlines {
		if h.Number == number {
			return h, true
		}
	}
	return Hotline{}, false
}

// Agent returns the agent with the given username.
func (c *Config) Agent(username string) (Agent, bool) {
	for _, a := range c.current().Agents {
		if a.Username == username {
			return a, true
		}
	}
	return Agent{}, false
}
