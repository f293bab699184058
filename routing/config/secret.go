package config

import (
	"encoding/hex"
	"errors"
	"os"
	"strings"

	"hotline/internal/cfg"
)

// loadSecret checks that the agent has exactly one kind of SIP secret and
// reads its password file. Errors name the field, never the secret.
func (a *Agent) loadSecret() error {
	n := 0
	for _, set := range []bool{a.Password != "", a.PasswordFile != "", a.HA1 != "" || a.HA1SHA256 != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return cfg.Errorf("password", "required: a password, a password_file or ha1/ha1_sha256 hashes")
	case n > 1:
		return cfg.Errorf("password", "only one of password, password_file or ha1/ha1_sha256 may be set")
	}
	var errs []error
	for _, h := range []struct {
		field, value string
		size         int
	}{{"ha1", a.HA1, 16}, {"ha1_sha256", a.HA1SHA256, 32}} {
		if h.value == "" {
			continue
		}
		if b, err := hex.DecodeString(h.value); err != nil || len(b) != h.size {
			errs = append(errs, cfg.Errorf(h.field, "must be %d hexadecimal digits (hotline passwd prints it)", 2*h.size))
		}
	}
	if a.PasswordFile != "" {
		raw, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return cfg.Errorf("password_file", "cannot read %s: %v", a.PasswordFile, err)
		}
		a.filePassword = strings.TrimSpace(string(raw))
		if a.filePassword == "" {
			errs = append(errs, cfg.Errorf("password_file", "%s is empty", a.PasswordFile))
		}
	}
	return errors.Join(errs...)
}

// DigestPassword is the agent's clear-text SIP password (from password or
// password_file), "" when only HA1 hashes are configured.
func (a Agent) DigestPassword() string {
	if a.Password != "" {
		return a.Password
	}
	return a.filePassword
}

// HashesOnly says the agent's secret is HA1 hashes, and which algorithms
// they cover ("MD5", "SHA-256").
func (a Agent) HashesOnly() (algorithms []string, ok bool) {
	if a.DigestPassword() != "" {
		return nil, false
	}
	if a.HA1 != "" {
		algorithms = append(algorithms, "MD5")
	}
	if a.HA1SHA256 != "" {
		algorithms = append(algorithms, "SHA-256")
	}
	return algorithms, true
}
