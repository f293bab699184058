package directory

import (
	"errors"
	"hotline/internal/cfg"
	"strings"
	"time"
)

// Config says where customers are looked up by caller ID.
type Config struct {
	// File is a YAML or CSV customer list (by extension: .yaml, .yml, .csv).
	// Empty: no file; every caller is unknown unless the CRM knows them.
	File string `yaml:"file"`
	// ReloadInterval is how often the file's modification time is checked;
	// a changed file is reloaded. Negative disables polling (SIGHUP still
	// reloads).
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// CountryCode is the country calling code used to turn national numbers
	// (0912345678) into E.164 (+84912345678). Default 84.
	CountryCode string `yaml:"country_code"`
	// StateFile is a JSON file where answers callers gave by keypad (their
	// service style) are kept across restarts. Empty: kept in memory only.
	StateFile string `yaml:"state_file"`
	// CRM is an optional HTTP lookup for callers not in the file.
	CRM CRMConfig `yaml:"crm"`
}

// CRMConfig is an HTTP customer lookup.
type CRMConfig struct {
	// URL is a Go template; {{.Number}} is the caller's E.164 number
	// (query-escaped), {{.Digits}} the same without the plus sign.
	// Empty disables the CRM.
	URL string `yaml:"url"`
	// Timeout bounds one lookup; past it the caller is treated as unknown.
	Timeout time.Duration `yaml:"timeout"`
	// CacheTTL is how long an answer is reused. Negative disables caching.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// CacheSize is the most numbers cached at once.
	CacheSize int `yaml:"cache_size"`
}

// SetDefaults fills in unset values.
func (d *Config) SetDefaults() {
	if d.ReloadInterval == 0 {
		d.ReloadInterval = 5 * time.Second
	}
	if d.CountryCode == "" {
		d.CountryCode = "84"
	}
	if d.CRM.Timeout == 0 {
		d.CRM.Timeout = 500 * time.Millisecond
	}
	if d.CRM.CacheTTL == 0 {
		d.CRM.CacheTTL = time.Minute
	}
	if d.CRM.CacheSize == 0 {
		d.CRM.CacheSize = 10000
	}
}

// Validate reports every problem with the directory section; fields are
// named relative to it.
func (c Config) Validate() error {
	var errs []error
	add := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	d := c
	if !digitsOnly(d.CountryCode) || len(d.CountryCode) > 3 {
		add(cfg.Errorf("country_code", "%q is not a country calling code (1-3 digits)", d.CountryCode))
	}
	if f := strings.ToLower(d.File); f != "" && !strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, ".yml") && !strings.HasSuffix(f, ".csv") {
		add(cfg.Errorf("file", "%q must end in .yaml, .yml or .csv", d.File))
	}
	if d.CRM.URL != "" {
		if _, err := parseURLTemplate(d.CRM.URL); err != nil {
			add(cfg.Errorf("crm.url", "%v", err))
		}
		if d.CRM.Timeout < 0 {
			add(cfg.Errorf("crm.timeout", "must not be negative"))
		}
		if d.CRM.CacheSize < 0 {
			add(cfg.Errorf("crm.cache_size", "must not be negative"))
		}
	}

	return errors.Join(errs...)
}

func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
