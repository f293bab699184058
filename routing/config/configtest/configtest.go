// Package configtest builds routing configurations for the routing
// packages' tests.
package configtest

import (
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/schedule"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// BaseConfig is a minimal valid configuration with the given agents.
func BaseConfig(agents ...config.Agent) *config.Config {
	for i := range agents {
		if agents[i].Password == "" {
			agents[i].Password = "pw"
		}
	}
	return &config.Config{Hotlines: []config.Hotline{{Number: "1900"}}, Agents: agents}
}

// MustValid sets c's defaults and fails t if c is not valid.
func MustValid(t testing.TB, c *config.Config) *config.Config {
	t.Helper()
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("config not valid: %v", err)
	}
	return c
}

// Agents are agents of the given names, with no skills and every queue.
func Agents(names ...string) []config.Agent {
	var out []config.Agent
	for _, n := range names {
		out = append(out, config.Agent{Username: n, Name: n})
	}
	return out
}

// CareConfig is a realistic configuration: office hours, a senior queue
// for loyal callers late in the day, complaints to specialists, an
// on-call queue at night.
func CareConfig() *config.Config {
	c := BaseConfig(
		config.Agent{Username: "alice", Skills: map[string]int{"complaints": 5}, Queues: []string{"complaints", "general"}},
		config.Agent{Username: "bob", Queues: []string{"general", "senior"}},
		config.Agent{Username: "olga", Queues: []string{"oncall"}},
	)
	c.Schedules = []schedule.Config{OfficeSchedule()}
	c.Queues = []config.QueueDef{
		{Name: "general", Schedule: "office", AfterHours: config.ActionConfig{Type: config.ActionVoicemail}},
		{Name: "senior", Schedule: "office"},
		{Name: "complaints", Schedule: "office", AfterHours: config.ActionConfig{Type: config.ActionQueue, Queue: "oncall"}},
		{Name: "oncall"},
	}
	c.Rules = []config.RuleConfig{
		{Name: "vip-hotline", Numbers: []string{"+18005550100"}, Queue: "senior", Priority: 20},
		{Name: "staff-test", CallerPrefixes: []string{"0283"}, Action: config.ActionConfig{Type: config.ActionMessage, Message: "test"}},
		{Name: "loyal-late", Segments: []string{directory.SegmentLoyal}, Bands: []string{"late"}, Queue: "senior", Priority: 10},
		{Name: "at-risk", Segments: []string{directory.SegmentAtRisk}, Queue: "complaints", Priority: 5, Skills: map[string]int{"complaints": 3}},
		{Name: "complaint", Reasons: []string{"complaint"}, Queue: "complaints", Skills: map[string]int{"complaints": 2}},
		{Name: "proactive", Styles: []string{directory.StyleProactive}, Queue: "general", Priority: 2, Skills: map[string]int{"product": 3}},
		{Name: "night", Schedule: "office", When: "closed", Segments: []string{directory.SegmentLoyal}, Queue: "oncall", Priority: 1},
		{Name: "default", Queue: "general"},
	}
	return c
}

// OfficeSchedule is office hours in Ho Chi Minh City with a holiday, two
// overrides and two bands.
func OfficeSchedule() schedule.Config {
	return schedule.Config{
		Name: "office",
		Zone: "Asia/Ho_Chi_Minh",
		Weekly: schedule.WeeklyHours{
			Mon: []string{"08:00-12:00", "13:00-20:00"},
			Tue: []string{"08:00-20:00"},
			Wed: []string{"08:00-20:00"},
			Thu: []string{"08:00-20:00"},
			Fri: []string{"08:00-20:00"},
			Sat: []string{"08:00-12:00"},
		},
		Holidays: []string{"2026-09-02"},
		Overrides: []schedule.OverrideConfig{
			{Date: "2026-12-24", Hours: []string{"08:00-11:00"}},
			{Date: "2026-11-24", Closed: true},
		},
		Bands: []schedule.BandConfig{
			{Name: "late", Hours: "16:00-20:00"},
			{Name: "monday-rush", Hours: "08:00-10:00", Days: []string{"mon"}},
		},
	}
}

// ExampleEngine reads the routing engine example kept, commented out,
// between its markers in the example configuration at path
// (deploy/hotline.example.yaml): schedules, queues, rules and callbacks,
// as a user who uncomments it gets them (unknown fields fail t).
func ExampleEngine(t testing.TB, path string) config.Config {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	begin := strings.Index(text, "# --- routing engine example (begin) ---")
	end := strings.Index(text, "# --- routing engine example (end) ---")
	if begin < 0 || end < begin {
		t.Fatalf("%s: routing engine example markers not found", path)
	}
	var yml strings.Builder
	for _, line := range strings.Split(text[begin:end], "\n")[1:] {
		if strings.HasPrefix(line, "# (") {
			continue
		}
		yml.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
	}
	var c config.Config
	dec := yaml.NewDecoder(strings.NewReader(yml.String()))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: the routing engine example does not parse: %v\n%s", path, err, yml.String())
	}
	return c
}
