package media

import (
	"strings"
	"testing"
	"time"

	"hotline/internal/cfg"

	"go.yaml.in/yaml/v3"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	want := Config{IP: "127.0.0.1", PortMin: 20000, PortMax: 29999, Timeout: 30 * time.Second, HoldTimeout: time.Hour, Kernel: KernelAuto}
	if c != want {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
	c = Config{Timeout: -1}
	c.SetDefaults()
	if c.Timeout != -1 {
		t.Errorf("negative timeout (disabled) was replaced by %s", c.Timeout)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"odd port_min", func(c *Config) { c.PortMin = 20001 }, "port_min"},
		{"low port_min", func(c *Config) { c.PortMin = 80 }, "port_min"},
		{"port_max not above port_min", func(c *Config) { c.PortMax = c.PortMin }, "port_max"},
		{"port_max too high", func(c *Config) { c.PortMax = 70000 }, "port_max"},
		{"bad ip", func(c *Config) { c.IP = "localhost" }, "ip"},
		{"bad announce_ip", func(c *Config) { c.AnnounceIP = "1.2.3" }, "announce_ip"},
		{"wildcard without announce_ip", func(c *Config) { c.IP = "0.0.0.0" }, "announce_ip"},
		{"unknown kernel mode", func(c *Config) { c.Kernel = "sometimes" }, "kernel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.SetDefaults()
			tt.edit(&c)
			fields := cfg.Fields(c.Validate())
			if len(fields) != 1 || fields[0].Field != tt.field {
				t.Fatalf("Validate() = %v, want one error for %s", fields, tt.field)
			}
		})
	}
	c := Config{IP: "0.0.0.0", AnnounceIP: "203.0.113.10"}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("wildcard with announce_ip: %v", err)
	}
	for in, want := range map[string]KernelMode{"auto": KernelAuto, "on": KernelOn, "off": KernelOff, "true": KernelOn, "false": KernelOff} {
		var c Config
		if err := yaml.Unmarshal([]byte("kernel: "+in), &c); err != nil || c.Kernel != want {
			t.Errorf("kernel: %s read as %q, %v; want %q", in, c.Kernel, err, want)
		}
	}
	c = Config{IP: "nope", PortMin: 3, PortMax: 1}
	if err := c.Validate(); err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("want three errors, got %v", err)
	}
}
