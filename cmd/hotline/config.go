package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"hotline/api"
	"hotline/cluster"
	"hotline/deploy"
	"hotline/internal/cfg"
	"hotline/internal/gcpace"
	"hotline/metrics"
	"hotline/recording"
	"hotline/records"
	"hotline/routing/config"
	"hotline/sip"
	"hotline/sip/media"
	"hotline/sip/registrar"
	"hotline/survey"
)

// Config is the whole configuration file. Each section belongs to the
// package that uses it.
type Config struct {
	SIP           sip.Config   `yaml:"sip"`
	RTP           media.Config `yaml:"rtp"`
	config.Config `yaml:",inline"`
	Recording     recording.Config `yaml:"recording"`
	Records       records.Config   `yaml:"records"`
	Survey        survey.Config    `yaml:"survey"`
	API           api.Config       `yaml:"api"`
	Metrics       metrics.Config   `yaml:"metrics"`
	Log           LogConfig        `yaml:"log"`
	// Runtime: the Go runtime's settings for a long-running service.
	Runtime gcpace.Config `yaml:"runtime"`
	// Cluster: several nodes serving one hotline (cluster/); empty: one node.
	Cluster cluster.Config `yaml:"cluster"`
}

// LogConfig sets up logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

func (c *LogConfig) setDefaults() {
	if c.Level == "" {
		c.Level = "info"
	}
	if c.Format == "" {
		c.Format = "text"
	}
}

func (c *LogConfig) validate() error {
	var errs []error
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		errs = append(errs, cfg.Errorf("level", "%q is not one of debug, info, warn, error", c.Level))
	}
	if c.Format != "text" && c.Format != "json" {
		errs = append(errs, cfg.Errorf("format", "%q is not one of text, json", c.Format))
	}
	return errors.Join(errs...)
}

func (c *LogConfig) logger(w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: l}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// embeddedName is how errors name the embedded example configuration.
const embeddedName = "deploy/hotline.example.yaml (embedded)"

// loadConfig reads, defaults and validates a configuration file; path ""
// means the embedded example. Errors name the file, the field and what is
// wrong, one per line.
func loadConfig(path string) (*Config, error) {
	name := path
	var data []byte
	if path == "" {
		name, data = embeddedName, deploy.ExampleConfig()
	} else {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return parseConfig(name, data)
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

func parseConfig(name string, data []byte) (*Config, error) {
	var c Config
	// Unknown fields and values of the wrong kind, in the user's words
	// with the field's path (yaml's own errors name Go types).
	if err := cfg.CheckYAML(data, &c); err != nil {
		if fes := cfg.Fields(err); len(fes) > 0 {
			return nil, &ConfigError{Lines: fieldLines(name, fes)}
		}
		return nil, yamlError(name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	c.SIP.SetDefaults()
	c.RTP.SetDefaults()
	c.Config.SetDefaults()
	c.Recording.SetDefaults()
	c.Records.SetDefaults()
	c.Survey.SetDefaults()
	c.API.SetDefaults()
	c.Metrics.SetDefaults()
	host, _ := os.Hostname()
	c.Cluster.SetDefaults(host)
	c.Log.setDefaults()
	err := errors.Join(
		cfg.Prefix("sip", c.SIP.Validate()),
		cfg.Prefix("rtp", c.RTP.Validate()),
		c.Config.Validate(),
		cfg.Prefix("recording", c.Recording.Validate()),
		cfg.Prefix("records", c.Records.Validate()),
		cfg.Prefix("survey", c.Survey.Validate()),
		cfg.Prefix("api", c.API.Validate()),
		cfg.Prefix("api", apiAgentsKnown(&c)),
		agentHashesCoverAlgorithms(&c),
		cfg.Prefix("metrics", c.Metrics.Validate()),
		cfg.Prefix("log", c.Log.validate()),
		cfg.Prefix("runtime", c.Runtime.Validate()),
		cfg.Prefix("cluster", c.Cluster.Validate()),
	)
	if err != nil {
		return nil, &ConfigError{Lines: fieldLines(name, cfg.Fields(err))}
	}
	return &c, nil
}

// fieldLines writes one line per problem: file, field path, problem, and
// the line of the file when known.
func fieldLines(name string, fes []*cfg.FieldError) []string {
	// One line per problem: values quoted in messages may hold newlines.
	oneLine := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace
	lines := make([]string, 0, len(fes))
	for _, fe := range fes {
		l := fmt.Sprintf("%s: %s", name, oneLine(fe.Error()))
		if fe.Line > 0 {
			l += fmt.Sprintf(" (line %d)", fe.Line)
		}
		lines = append(lines, l)
	}
	return lines
}

// apiAgentsKnown checks that every agent-scoped API token is bound to a
// configured agent.
func apiAgentsKnown(c *Config) error {
	known := map[string]bool{}
	for _, a := range c.Agents {
		known[a.Username] = true
	}
	var errs []error
	for i, t := range c.API.Tokens {
		if t.Scope == api.ScopeAgent && t.Agent != "" && !known[t.Agent] {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("tokens[%d].agent", i), "%q is not the username of a configured agent", t.Agent))
		}
	}
	return errors.Join(errs...)
}

// agentHashesCoverAlgorithms checks that an agent configured with HA1
// hashes only has one for every digest algorithm phones are challenged
// with (a phone may answer with any of them).
func agentHashesCoverAlgorithms(c *Config) error {
	var errs []error
	for i, a := range c.Agents {
		have, hashesOnly := a.HashesOnly()
		if !hashesOnly || len(have) == 0 {
			continue
		}
		for _, alg := range c.SIP.Registrar.Algorithms {
			if slices.Contains(have, alg) {
				continue
			}
			field := "ha1"
			if alg == registrar.AlgorithmSHA256 {
				field = "ha1_sha256"
			}
			errs = append(errs, cfg.Errorf(fmt.Sprintf("agents[%d].%s", i, field),
				"required: sip.registrar.algorithms has %s (hotline passwd -user %s -algorithm %s prints it)", alg, a.Username, alg))
		}
	}
	return errors.Join(errs...)
}

// ConfigError lists every problem found in a configuration file.
type ConfigError struct{ Lines []string }

func (e *ConfigError) Error() string { return strings.Join(e.Lines, "\n") }

func yamlError(name string, err error) error {
	// One line per problem: values quoted in messages may hold newlines.
	oneLine := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var lines []string
		for _, m := range te.Errors {
			m = oneLine(m)
			if sub := yamlLineRE.FindStringSubmatch(m); sub != nil {
				lines = append(lines, fmt.Sprintf("%s:%s: %s", name, sub[1], sub[2]))
			} else {
				lines = append(lines, fmt.Sprintf("%s: %s", name, m))
			}
		}
		return &ConfigError{Lines: lines}
	}
	msg := oneLine(strings.TrimPrefix(err.Error(), "yaml: "))
	if sub := yamlLineRE.FindStringSubmatch(msg); sub != nil {
		return &ConfigError{Lines: []string{fmt.Sprintf("%s:%s: %s", name, sub[1], sub[2])}}
	}
	return &ConfigError{Lines: []string{fmt.Sprintf("%s: %s", name, msg)}}
}
