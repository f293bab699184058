package api

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"hotline/internal/cfg"
)

// Token scopes.
const (
	// ScopeSupervisor may use every endpoint.
	ScopeSupervisor = "supervisor"
	// ScopeAgent is bound to one agent: it may read and change only that
	// agent's state, and read the queues.
	ScopeAgent = "agent"
)

// Secret is a configuration value that must never be shown: it prints,
// logs and marshals as "[redacted]".
type Secret string

const redacted = "[redacted]"

// String hides the secret from fmt.
func (Secret) String() string { return redacted }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return redacted }

// LogValue hides the secret from log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON hides the secret from encoding/json.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText hides the secret from encoders using encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Token is one API bearer token. Its value comes from exactly one of
// TokenFile (preferred), TokenEnv or Token (a literal, for development).
type Token struct {
	// Name identifies the token in logs (never the token itself).
	Name string `yaml:"name"`
	// Scope is "supervisor" (every endpoint) or "agent" (Agent only).
	Scope string `yaml:"scope"`
	// Agent is the agent (username) an agent-scoped token acts for.
	Agent string `yaml:"agent"`
	// Token is the token itself, written in the configuration file.
	Token Secret `yaml:"token"`
	// TokenFile is a file holding the token (surrounding white space,
	// such as a final newline, is ignored).
	TokenFile string `yaml:"token_file"`
	// TokenEnv is an environment variable holding the token.
	TokenEnv string `yaml:"token_env"`
}

// TLSConfig turns on HTTPS for the API.
type TLSConfig struct {
	// CertFile and KeyFile are the PEM certificate chain and private key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled says whether HTTPS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Config is the api section of the configuration.
type Config struct {
	// Listen is host:port of the API; default 127.0.0.1:8080. Empty
	// host or a non-loopback address requires a token.
	Listen string `yaml:"listen"`
	// Token is the single token of earlier versions: a supervisor token,
	// sent as "Authorization: Bearer <token>". Prefer Tokens.
	Token Secret `yaml:"token"`
	// Tokens are the API's bearer tokens and what each may do. With any
	// token configured (here or in Token), every request but /healthz
	// and pre-signed downloads needs one, on loopback too.
	Tokens []Token `yaml:"tokens"`
	// TLS, when set, makes the API serve HTTPS only (TLS 1.2 or later).
	TLS TLSConfig `yaml:"tls"`
	// LookBackDays is how many days back GET /api/v1/recordings/{id}
	// looks for a recording made before the last restart; default 31.
	LookBackDays int `yaml:"look_back_days"`
	// DownloadExpiry is how long the signed download URLs of the file
	// recording backend stay valid; default 5m. (The s3 backend's URLs
	// last recording.s3.presign_expiry.)
	DownloadExpiry time.Duration `yaml:"download_expiry"`
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.LookBackDays == 0 {
		c.LookBackDays = 31
	}
	if c.DownloadExpiry == 0 {
		c.DownloadExpiry = 5 * time.Minute
	}
	for i := range c.Tokens {
		c.Tokens[i].Scope = strings.ToLower(strings.TrimSpace(c.Tokens[i].Scope))
	}
}

// credential is a resolved token.
type credential struct {
	name  string
	scope string
	agent string
	// hash is the SHA-256 of the token: tokens are compared in constant
	// time through their hashes, whatever their lengths.
	hash [sha256.Size]byte
}

// Validate reports problems in the api section. It reads token files and
// environment variables, and loads the TLS certificate, so that a
// missing secret is a configuration error rather than a refused request.
// No error message contains a token.
func (c *Config) Validate() error {
	var errs []error
	_, credErr := c.credentials()
	if credErr != nil {
		errs = append(errs, credErr)
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, cfg.Errorf("listen", "%q is not host:port", c.Listen))
	} else if !isLoopback(host) && c.Token == "" && len(c.Tokens) == 0 {
		errs = append(errs, cfg.Errorf("tokens", "at least one token is required when listen (%s) is not a loopback address", c.Listen))
	}
	if c.TLS.Enabled() {
		if err := c.TLS.validate(); err != nil {
			errs = append(errs, cfg.Prefix("tls", err))
		}
	}
	if c.LookBackDays < 1 {
		errs = append(errs, cfg.Errorf("look_back_days", "must be at least 1"))
	}
	if c.DownloadExpiry < time.Second || c.DownloadExpiry > 24*time.Hour {
		errs = append(errs, cfg.Errorf("download_expiry", "must be between 1s and 24h, got %s", c.DownloadExpiry))
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (t TLSConfig) validate() error {
	var errs []error
	if t.CertFile == "" {
		errs = append(errs, cfg.Errorf("cert_file", "required with key_file"))
	}
	if t.KeyFile == "" {
		errs = append(errs, cfg.Errorf("key_file", "required with cert_file"))
	}
	if errs != nil {
		return errors.Join(errs...)
	}
	for _, f := range []struct{ name, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, cfg.Errorf(f.name, "cannot read %s: %v", f.path, errors.Unwrap(err)))
		}
	}
	if errs != nil {
		return errors.Join(errs...)
	}
	if _, err := t.load(); err != nil {
		return cfg.Errorf("", "%v", err)
	}
	return nil
}

// load reads the certificate and key (the error names the files, never
// shows key material).
func (t TLSConfig) load() (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load the certificate %s with the key %s: %w", t.CertFile, t.KeyFile, err)
	}
	return cert, nil
}

// credentials resolves every token (the legacy Token first, as a
// supervisor token named "token"). Errors name the field, never the value.
func (c *Config) credentials() ([]credential, error) {
	var out []credential
	var errs []error
	seen := map[[sha256.Size]byte]string{}
	names := map[string]int{}
	add := func(field string, cr credential, value string) {
		cr.hash = sha256.Sum256([]byte(value))
		if other, dup := seen[cr.hash]; dup {
			errs = append(errs, cfg.Errorf(field, "the same token as %s: every token must be different", other))
			return
		}
		seen[cr.hash] = field
		out = append(out, cr)
	}
	if c.Token != "" {
		if err := checkTokenValue(string(c.Token)); err != nil {
			errs = append(errs, cfg.Errorf("token", "%v", err))
		} else {
			add("token", credential{name: "token", scope: ScopeSupervisor}, string(c.Token))
		}
	}
	for i, t := range c.Tokens {
		p := fmt.Sprintf("tokens[%d]", i)
		switch {
		case t.Name == "":
			errs = append(errs, cfg.Errorf(p+".name", "required (it names the token in logs)"))
		default:
			if j, dup := names[t.Name]; dup {
				errs = append(errs, cfg.Errorf(p+".name", "%q is already the name of tokens[%d]", t.Name, j))
			}
			names[t.Name] = i
		}
		switch t.Scope {
		case ScopeSupervisor:
			if t.Agent != "" {
				errs = append(errs, cfg.Errorf(p+".agent", "only for scope %q (a supervisor token acts for every agent)", ScopeAgent))
			}
		case ScopeAgent:
			if t.Agent == "" {
				errs = append(errs, cfg.Errorf(p+".agent", "required when scope is %q: the agent (username) the token acts for", ScopeAgent))
			}
		case "":
			errs = append(errs, cfg.Errorf(p+".scope", "required: %q or %q", ScopeSupervisor, ScopeAgent))
		default:
			errs = append(errs, cfg.Errorf(p+".scope", "%q is not one of %s, %s", t.Scope, ScopeSupervisor, ScopeAgent))
		}
		value, field, err := t.value()
		if err != nil {
			errs = append(errs, cfg.Prefix(p, err))
			continue
		}
		add(p+"."+field, credential{name: t.Name, scope: t.Scope, agent: t.Agent}, value)
	}
	return out, errors.Join(errs...)
}

// value reads the token from where it is configured; field is the
// field it came from.
func (t Token) value() (value, field string, err error) {
	n := 0
	for _, set := range []bool{t.Token != "", t.TokenFile != "", t.TokenEnv != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", "", cfg.Errorf("", "exactly one of token_file, token_env or token is required, got %d", n)
	}
	switch {
	case t.TokenFile != "":
		field = "token_file"
		raw, err := os.ReadFile(t.TokenFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", field, cfg.Errorf(field, "cannot read %s: %v", t.TokenFile, err)
		}
		value = strings.TrimSpace(string(raw))
		if value == "" {
			return "", field, cfg.Errorf(field, "%s is empty", t.TokenFile)
		}
	case t.TokenEnv != "":
		field = "token_env"
		value = strings.TrimSpace(os.Getenv(t.TokenEnv))
		if value == "" {
			return "", field, cfg.Errorf(field, "environment variable %s is not set or empty", t.TokenEnv)
		}
	default:
		field, value = "token", string(t.Token)
	}
	if err := checkTokenValue(value); err != nil {
		return "", field, cfg.Errorf(field, "%v", err)
	}
	return value, field, nil
}

// checkTokenValue makes sure a token can be sent in an Authorization
// header; the error does not show the token.
func checkTokenValue(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	for _, r := range v {
		if r <= ' ' || r > '~' {
			return errors.New("may hold only printable ASCII characters without spaces")
		}
	}
	return nil
}
