package config_test

import (
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/internal/routingtest"
	"hotline/routing/rules"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestIVRConfigValidation: every bad keypad setting is reported on its
// own field with what is wrong.
func TestIVRConfigValidation(t *testing.T) {
	no := false
	tests := []struct {
		name  string
		edit  func(*config.Config)
		field string
		msg   string
	}{
		{"reason key not a digit", func(c *config.Config) { c.IVR.ReasonMenu.Options = map[string]string{"12": "order"} },
			"ivr.reason_menu.options.12", "not a single digit"},
		{"reason key star", func(c *config.Config) { c.IVR.ReasonMenu.Options = map[string]string{"*": "order"} },
			"ivr.reason_menu.options.*", "not a single digit"},
		{"reason key letter", func(c *config.Config) { c.IVR.ReasonMenu.Options = map[string]string{"a": "order"} },
			"ivr.reason_menu.options.a", "not a single digit"},
		{"empty reason", func(c *config.Config) { c.IVR.ReasonMenu.Options = map[string]string{"1": "order", "2": " "} },
			"ivr.reason_menu.options.2", "must not be empty"},
		{"reason with spaces", func(c *config.Config) { c.IVR.ReasonMenu.Options = map[string]string{"3": "tech support"} },
			"ivr.reason_menu.options.3", "only letters"},
		{"prompt without options", func(c *config.Config) { c.IVR.ReasonMenu.Prompt = "reason" },
			"ivr.reason_menu.options", "at least one option"},
		{"prompt path", func(c *config.Config) {
			c.IVR.ReasonMenu = config.ReasonMenuConfig{Prompt: "../secret", Options: map[string]string{"1": "order"}}
		}, "ivr.reason_menu.prompt", "not a prompt name"},
		{"timeout too short", func(c *config.Config) { c.IVR.Timeout = 100 * time.Millisecond }, "ivr.timeout", "1s-1m"},
		{"negative announcement", func(c *config.Config) { c.Queue.Announce.Every = -time.Second }, "queue.announce.every", "negative"},
		{"announcements too often", func(c *config.Config) { c.Queues[1].Announce = &config.AnnounceConfig{Every: time.Second} },
			"queues[1].announce.every", "at least 5s"},
		{"announcement says nothing", func(c *config.Config) {
			c.Queues[0].CallbackKey = config.CallbackKeyNone
			c.Queues[0].Announce = &config.AnnounceConfig{Every: time.Minute, Position: &no, Wait: &no}
		}, "queues[0].announce", "announces nothing"},
		{"callback key", func(c *config.Config) { c.Queues[2].CallbackKey = "99" }, "queues[2].callback_key", "not a key"},
		{"default callback key", func(c *config.Config) { c.Queue.CallbackKey = "x" }, "queue.callback_key", "not a key"},
	}
	for _, tt := range tests {
		c := configtest.CareConfig()
		c.SetDefaults()
		tt.edit(c)
		c.SetDefaults() // as the loader does: values set by the file, then defaults
		err := c.Validate()
		msg, ok := routingtest.ErrFields(err)[tt.field]
		if !ok || !strings.Contains(msg, tt.msg) {
			t.Errorf("%s: error %v\nwant field %s with %q", tt.name, err, tt.field, tt.msg)
		}
	}
}

// TestIVRConfigFromYAML: a configuration as written in a file; the
// queue-wide announcement and callback key apply to queues that set
// none, a queue's own replace them.
func TestIVRConfigFromYAML(t *testing.T) {
	const src = `
hotlines: [{number: "1900"}]
agents: [{username: alice, password: x}]
queue:
  announce: {every: 30s, wait: false}
queues:
  - name: general
  - name: complaints
    announce: {every: 0s}
    callback_key: none
  - name: sales
    callback_key: "#"
rules:
  - {reasons: [complaint], queue: complaints}
  - {queue: general}
ivr:
  style_question: true
  reason_menu:
    options: {1: order, "2": complaint, 3: technical}
`
	var c config.Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	configtest.MustValid(t, &c)
	if !c.IVR.StyleQuestion || c.IVR.Timeout != 5*time.Second || c.IVR.ReasonMenu.Prompt != "reason" {
		t.Errorf("ivr %+v, want the style question, timeout 5s and prompt reason", c.IVR)
	}
	if got := c.IVR.ReasonMenu.Options["1"]; got != "order" {
		t.Errorf("option 1 = %q, want order (unquoted YAML key)", got)
	}
	if got := strings.Join(c.IVR.ReasonMenu.Reasons(), ","); got != "complaint,order,technical" {
		t.Errorf("Reasons() = %s", got)
	}
	want := []struct {
		queue    string
		every    time.Duration
		position bool
		wait     bool
		key      string
	}{
		{"general", 30 * time.Second, true, false, "9"},
		{"complaints", 0, true, true, config.CallbackKeyNone},
		{"sales", 30 * time.Second, true, false, "#"},
	}
	for _, w := range want {
		q, ok := c.QueueByName(w.queue)
		if !ok {
			t.Fatalf("no queue %s", w.queue)
		}
		a := q.Announce
		if a.Every != w.every || a.SaysPosition() != w.position || a.SaysWait() != w.wait || q.CallbackKey != w.key {
			t.Errorf("queue %s: announce every %s position %v wait %v, callback key %q; want %s %v %v %q",
				w.queue, a.Every, a.SaysPosition(), a.SaysWait(), q.CallbackKey, w.every, w.position, w.wait, w.key)
		}
	}
	r, err := rules.NewRouter(&c)
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Decide(rules.Attributes{Reason: c.IVR.ReasonMenu.Options["2"]}, time.Now()); d.Queue != "complaints" {
		t.Errorf("reason from key 2 routed to %q, want complaints", d.Queue)
	}
}

// TestIVRDefaultsOff: without an ivr section nobody is asked anything,
// no queue announces, and 9 asks for a callback.
func TestIVRDefaultsOff(t *testing.T) {
	c := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	if c.IVR.StyleQuestion || c.IVR.ReasonMenu.On() {
		t.Errorf("ivr %+v, want everything off", c.IVR)
	}
	q := c.Queues[0]
	if q.Announce == nil || q.Announce.Every != 0 || q.CallbackKey != config.DefaultCallbackKey {
		t.Errorf("queue %+v, want no announcements and callback key 9", q)
	}
}
