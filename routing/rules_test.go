package routing

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// careConfig is a realistic configuration: office hours, a senior queue
// for loyal callers late in the day, complaints to specialists, an
// on-call queue at night.
func careConfig() *Config {
	c := baseConfig(
		Agent{Username: "alice", Skills: map[string]int{"complaints": 5}, Queues: []string{"complaints", "general"}},
		Agent{Username: "bob", Queues: []string{"general", "senior"}},
		Agent{Username: "olga", Queues: []string{"oncall"}},
	)
	c.Schedules = []ScheduleConfig{officeSchedule()}
	c.Queues = []QueueDef{
		{Name: "general", Schedule: "office", AfterHours: ActionConfig{Type: ActionVoicemail}},
		{Name: "senior", Schedule: "office"},
		{Name: "complaints", Schedule: "office", AfterHours: ActionConfig{Type: ActionQueue, Queue: "oncall"}},
		{Name: "oncall"},
	}
	c.Rules = []RuleConfig{
		{Name: "vip-hotline", Numbers: []string{"+18005550100"}, Queue: "senior", Priority: 20},
		{Name: "staff-test", CallerPrefixes: []string{"0283"}, Action: ActionConfig{Type: ActionMessage, Message: "test"}},
		{Name: "loyal-late", Segments: []string{SegmentLoyal}, Bands: []string{"late"}, Queue: "senior", Priority: 10},
		{Name: "at-risk", Segments: []string{SegmentAtRisk}, Queue: "complaints", Priority: 5, Skills: map[string]int{"complaints": 3}},
		{Name: "complaint", Reasons: []string{"complaint"}, Queue: "complaints", Skills: map[string]int{"complaints": 2}},
		{Name: "proactive", Styles: []string{StyleProactive}, Queue: "general", Priority: 2, Skills: map[string]int{"product": 3}},
		{Name: "night", Schedule: "office", When: "closed", Segments: []string{SegmentLoyal}, Queue: "oncall", Priority: 1},
		{Name: "default", Queue: "general"},
	}
	return c
}

func TestDecide(t *testing.T) {
	c := mustValid(t, careConfig())
	r, err := NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	morning := time.Date(2026, 11, 25, 9, 0, 0, 0, hcm) // Wednesday
	late := time.Date(2026, 11, 25, 17, 0, 0, 0, hcm)
	night := time.Date(2026, 11, 25, 23, 0, 0, 0, hcm)
	caller := "+84912345678"
	tests := []struct {
		name  string
		attrs Attributes
		at    time.Time
		want  Decision
	}{
		{"unknown caller", Attributes{Caller: caller, Dialled: "1900"}, morning,
			Decision{Action: ActionQueue, Queue: "general", Rule: "default", Open: true}},
		{"loyal in the morning", Attributes{Segment: SegmentLoyal, Caller: caller, Dialled: "1900"}, morning,
			Decision{Action: ActionQueue, Queue: "general", Rule: "default", Open: true}},
		{"loyal after 16:00", Attributes{Segment: SegmentLoyal, Caller: caller, Dialled: "1900"}, late,
			Decision{Action: ActionQueue, Queue: "senior", Priority: 10, Rule: "loyal-late", Open: true, Band: "late"}},
		{"at risk", Attributes{Segment: SegmentAtRisk, Caller: caller}, morning,
			Decision{Action: ActionQueue, Queue: "complaints", Priority: 5, Rule: "at-risk", Open: true,
				Skills: []SkillReq{{"complaints", 3}}}},
		{"complaint reason", Attributes{Segment: SegmentPotential, Reason: "complaint", Caller: caller}, morning,
			Decision{Action: ActionQueue, Queue: "complaints", Rule: "complaint", Open: true, Skills: []SkillReq{{"complaints", 2}}}},
		{"proactive", Attributes{Style: StyleProactive, Caller: caller}, morning,
			Decision{Action: ActionQueue, Queue: "general", Priority: 2, Rule: "proactive", Open: true, Skills: []SkillReq{{"product", 3}}}},
		{"dialled number", Attributes{Dialled: "+18005550100", Caller: caller}, morning,
			Decision{Action: ActionQueue, Queue: "senior", Priority: 20, Rule: "vip-hotline", Open: true}},
		{"caller prefix in national form", Attributes{Caller: "+842838001234"}, morning,
			Decision{Action: ActionMessage, Message: "test", Rule: "staff-test", Open: true}},
		{"after hours: voicemail", Attributes{Caller: caller}, night,
			Decision{Action: ActionVoicemail, Queue: "general", Message: "closed", Rule: "default", AfterHours: true}},
		{"after hours: on-call queue", Attributes{Segment: SegmentAtRisk, Caller: caller}, night,
			Decision{Action: ActionQueue, Queue: "oncall", Priority: 5, Rule: "at-risk", AfterHours: true}},
		{"night rule for loyal", Attributes{Segment: SegmentLoyal, Caller: caller}, night,
			Decision{Action: ActionQueue, Queue: "oncall", Priority: 1, Rule: "night", Open: true}},
	}
	for _, tt := range tests {
		got := r.Decide(tt.attrs, tt.at)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestDefaultConfigRoutesEverythingToOneQueue(t *testing.T) {
	c := mustValid(t, baseConfig(agents("alice")...))
	if len(c.Queues) != 1 || c.Queues[0].Name != DefaultQueueName || len(c.Rules) != 1 {
		t.Fatalf("defaults: queues %+v rules %+v", c.Queues, c.Rules)
	}
	r, err := NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Decide(Attributes{Segment: SegmentAtRisk}, time.Now())
	if d.Action != ActionQueue || d.Queue != DefaultQueueName {
		t.Fatalf("decision %+v", d)
	}
}

func TestEngineConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
		msg   string
	}{
		{"unknown queue in rule", func(c *Config) { c.Rules[0].Queue = "vip" }, "rules[0].queue", `unknown queue "vip"`},
		{"rule without queue", func(c *Config) { c.Rules[2].Queue = "" }, "rules[2].queue", "must name a queue"},
		{"unreachable rule", func(c *Config) {
			c.Rules = append(c.Rules[:2], append([]RuleConfig{{Name: "all", Queue: "general"}}, c.Rules[2:]...)...)
		}, "rules[3]", "unreachable: rules[2]"},
		{"no default rule", func(c *Config) { c.Rules = c.Rules[:len(c.Rules)-1] }, "rules", "no default rule"},
		{"unknown band", func(c *Config) { c.Rules[2].Bands = []string{"evening"} }, "rules[2].bands[0]", `no band "evening"`},
		{"when without schedule", func(c *Config) { c.Rules[6].Schedule = ""; c.Rules[6].Queue = "oncall" }, "rules[6].schedule", "need a schedule"},
		{"bad when", func(c *Config) { c.Rules[6].When = "night" }, "rules[6].when", "not one of open, closed"},
		{"bad style", func(c *Config) { c.Rules[5].Styles = []string{"passive"} }, "rules[5].styles[0]", "not one of"},
		{"skill level", func(c *Config) { c.Rules[3].Skills["complaints"] = 6 }, "rules[3].skills.complaints", "1-5"},
		{"action queue in rule", func(c *Config) { c.Rules[1].Action.Type = ActionQueue }, "rules[1].action.type", "use the rule's queue"},
		{"bad action", func(c *Config) { c.Rules[1].Action.Type = "hangup" }, "rules[1].action.type", "not one of"},
		{"unknown schedule", func(c *Config) { c.Queues[0].Schedule = "weekend" }, "queues[0].schedule", `unknown schedule "weekend"`},
		{"schedule error", func(c *Config) { c.Schedules[0].Weekly.Mon = []string{"08:00-13:00", "12:00-14:00"} }, "schedules[0].weekly.mon", "overlap"},
		{"bad strategy", func(c *Config) { c.Queues[1].Strategy = "fastest" }, "queues[1].strategy", "not one of"},
		{"duplicate queue", func(c *Config) { c.Queues[1].Name = "general" }, "queues[1].name", "already used"},
		{"overflow self", func(c *Config) { c.Queues[0].Overflow = "general" }, "queues[0].overflow", "itself"},
		{"overflow loop", func(c *Config) { c.Queues[0].Overflow = "senior"; c.Queues[1].Overflow = "general" }, "queues[0].overflow", "loops back"},
		{"overflow unknown", func(c *Config) { c.Queues[0].Overflow = "nowhere" }, "queues[0].overflow", "unknown queue"},
		{"after hours on-call without queue", func(c *Config) { c.Queues[2].AfterHours.Queue = "" }, "queues[2].after_hours.queue", "must name a queue"},
		{"escalation order", func(c *Config) {
			c.Queues[0].Escalation = []EscalationStep{{After: time.Minute, RelaxSkills: 1}, {After: time.Second, DropSkills: true}}
		}, "queues[0].escalation[1].after", "in order"},
		{"escalation no-op", func(c *Config) { c.Queues[0].Escalation = []EscalationStep{{After: time.Minute}} }, "queues[0].escalation[0]", "does nothing"},
		{"escalation widen unknown", func(c *Config) {
			c.Queues[0].Escalation = []EscalationStep{{After: time.Minute, Widen: []string{"x"}}}
		}, "queues[0].escalation[0].widen[0]", "unknown queue"},
		{"agent skill level", func(c *Config) { c.Agents[0].Skills["complaints"] = 0 }, "agents[0].skills.complaints", "1-5"},
		{"agent queue", func(c *Config) { c.Agents[0].Queues = []string{"nope"} }, "agents[0].queues[0]", "unknown queue"},
		{"country code", func(c *Config) { c.Directory.CountryCode = "+84" }, "directory.country_code", "1-3 digits"},
		{"directory file type", func(c *Config) { c.Directory.File = "customers.json" }, "directory.file", ".csv"},
		{"crm url", func(c *Config) { c.Directory.CRM.URL = "ftp://crm/{{.Number}}" }, "directory.crm.url", "not an http(s) URL"},
		{"crm template", func(c *Config) { c.Directory.CRM.URL = "http://crm/{{.Phone}}" }, "directory.crm.url", "bad template"},
		{"quiet hours", func(c *Config) { c.Callbacks.QuietHours = []string{"21:00"} }, "callbacks.quiet_hours[0]", "not a range"},
		{"callback queue", func(c *Config) { c.Callbacks.Queue = "x" }, "callbacks.queue", "unknown queue"},
	}
	for _, tt := range tests {
		c := careConfig()
		c.SetDefaults()
		tt.edit(c)
		err := c.Validate()
		msg, ok := errFields(err)[tt.field]
		if !ok || !strings.Contains(msg, tt.msg) {
			t.Errorf("%s: error %v\nwant field %s with %q", tt.name, err, tt.field, tt.msg)
		}
	}
}

// TestExampleConfigEngineSection validates the routing engine example kept
// (commented out) in deploy/hotline.example.yaml.
func TestExampleConfigEngineSection(t *testing.T) {
	data, err := os.ReadFile("../deploy/hotline.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	begin := strings.Index(text, "# --- routing engine example (begin) ---")
	end := strings.Index(text, "# --- routing engine example (end) ---")
	if begin < 0 || end < begin {
		t.Fatal("example markers not found")
	}
	var yml strings.Builder
	for _, line := range strings.Split(text[begin:end], "\n")[1:] {
		if strings.HasPrefix(line, "# (") {
			continue
		}
		yml.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(yml.String()))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("example does not parse: %v\n%s", err, yml.String())
	}
	c.Hotlines = []Hotline{{Number: "1900"}}
	c.Agents = []Agent{{Username: "alice", Password: "x", Skills: map[string]int{"complaints": 4}, Queues: []string{"general", "complaints"}}}
	mustValid(t, &c)
	if _, err := NewRouter(&c); err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 4 || len(c.Queues) != 4 || c.Directory.CRM.Timeout != 500*time.Millisecond {
		t.Fatalf("example not fully read: %d rules, %d queues", len(c.Rules), len(c.Queues))
	}
}
