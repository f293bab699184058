package config_test

import (
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/internal/routingtest"
	"strings"
	"testing"
	"time"
)

func TestEngineConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*config.Config)
		field string
		msg   string
	}{
		{"unknown queue in rule", func(c *config.Config) { c.Rules[0].Queue = "vip" }, "rules[0].queue", `unknown queue "vip"`},
		{"rule without queue", func(c *config.Config) { c.Rules[2].Queue = "" }, "rules[2].queue", "must name a queue"},
		{"unreachable rule", func(c *config.Config) {
			c.Rules = append(c.Rules[:2], append([]config.RuleConfig{{Name: "all", Queue: "general"}}, c.Rules[2:]...)...)
		}, "rules[3]", "unreachable: rules[2]"},
		{"no default rule", func(c *config.Config) { c.Rules = c.Rules[:len(c.Rules)-1] }, "rules", "no default rule"},
		{"unknown band", func(c *config.Config) { c.Rules[2].Bands = []string{"evening"} }, "rules[2].bands[0]", `no band "evening"`},
		{"when without schedule", func(c *config.Config) { c.Rules[6].Schedule = ""; c.Rules[6].Queue = "oncall" }, "rules[6].schedule", "need a schedule"},
		{"bad when", func(c *config.Config) { c.Rules[6].When = "night" }, "rules[6].when", "not one of open, closed"},
		{"bad style", func(c *config.Config) { c.Rules[5].Styles = []string{"passive"} }, "rules[5].styles[0]", "not one of"},
		{"skill level", func(c *config.Config) { c.Rules[3].Skills["complaints"] = 6 }, "rules[3].skills.complaints", "1-5"},
		{"action queue in rule", func(c *config.Config) { c.Rules[1].Action.Type = config.ActionQueue }, "rules[1].action.type", "use the rule's queue"},
		{"bad action", func(c *config.Config) { c.Rules[1].Action.Type = "hangup" }, "rules[1].action.type", "not one of"},
		{"unknown schedule", func(c *config.Config) { c.Queues[0].Schedule = "weekend" }, "queues[0].schedule", `unknown schedule "weekend"`},
		{"schedule error", func(c *config.Config) { c.Schedules[0].Weekly.Mon = []string{"08:00-13:00", "12:00-14:00"} }, "schedules[0].weekly.mon", "overlap"},
		{"bad strategy", func(c *config.Config) { c.Queues[1].Strategy = "fastest" }, "queues[1].strategy", "not one of"},
		{"duplicate queue", func(c *config.Config) { c.Queues[1].Name = "general" }, "queues[1].name", "already used"},
		{"overflow self", func(c *config.Config) { c.Queues[0].Overflow = "general" }, "queues[0].overflow", "itself"},
		{"overflow loop", func(c *config.Config) { c.Queues[0].Overflow = "senior"; c.Queues[1].Overflow = "general" }, "queues[0].overflow", "loops back"},
		{"overflow unknown", func(c *config.Config) { c.Queues[0].Overflow = "nowhere" }, "queues[0].overflow", "unknown queue"},
		{"after hours on-call without queue", func(c *config.Config) { c.Queues[2].AfterHours.Queue = "" }, "queues[2].after_hours.queue", "must name a queue"},
		{"escalation order", func(c *config.Config) {
			c.Queues[0].Escalation = []config.EscalationStep{{After: time.Minute, RelaxSkills: 1}, {After: time.Second, DropSkills: true}}
		}, "queues[0].escalation[1].after", "in order"},
		{"escalation no-op", func(c *config.Config) { c.Queues[0].Escalation = []config.EscalationStep{{After: time.Minute}} }, "queues[0].escalation[0]", "does nothing"},
		{"escalation widen unknown", func(c *config.Config) {
			c.Queues[0].Escalation = []config.EscalationStep{{After: time.Minute, Widen: []string{"x"}}}
		}, "queues[0].escalation[0].widen[0]", "unknown queue"},
		{"agent skill level", func(c *config.Config) { c.Agents[0].Skills["complaints"] = 0 }, "agents[0].skills.complaints", "1-5"},
		{"agent queue", func(c *config.Config) { c.Agents[0].Queues = []string{"nope"} }, "agents[0].queues[0]", "unknown queue"},
		{"country code", func(c *config.Config) { c.Directory.CountryCode = "+84" }, "directory.country_code", "1-3 digits"},
		{"directory file type", func(c *config.Config) { c.Directory.File = "customers.json" }, "directory.file", ".csv"},
		{"crm url", func(c *config.Config) { c.Directory.CRM.URL = "ftp://crm/{{.Number}}" }, "directory.crm.url", "not an http(s) URL"},
		{"crm template", func(c *config.Config) { c.Directory.CRM.URL = "http://crm/{{.Phone}}" }, "directory.crm.url", "bad template"},
		{"quiet hours", func(c *config.Config) { c.Callbacks.QuietHours = []string{"21:00"} }, "callbacks.quiet_hours[0]", "not a range"},
		{"callback queue", func(c *config.Config) { c.Callbacks.Queue = "x" }, "callbacks.queue", "unknown queue"},
	}
	for _, tt := range tests {
		c := configtest.CareConfig()
		c.SetDefaults()
		tt.edit(c)
		err := c.Validate()
		msg, ok := routingtest.ErrFields(err)[tt.field]
		if !ok || !strings.Contains(msg, tt.msg) {
			t.Errorf("%s: error %v\nwant field %s with %q", tt.name, err, tt.field, tt.msg)
		}
	}
}
