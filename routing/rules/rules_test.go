package rules

import (
	"fmt"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"reflect"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	c := configtest.MustValid(t, configtest.CareConfig())
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
			Decision{Action: config.ActionQueue, Queue: "general", Rule: "default", Open: true}},
		{"loyal in the morning", Attributes{Segment: directory.SegmentLoyal, Caller: caller, Dialled: "1900"}, morning,
			Decision{Action: config.ActionQueue, Queue: "general", Rule: "default", Open: true}},
		{"loyal after 16:00", Attributes{Segment: directory.SegmentLoyal, Caller: caller, Dialled: "1900"}, late,
			Decision{Action: config.ActionQueue, Queue: "senior", Priority: 10, Rule: "loyal-late", Open: true, Band: "late"}},
		{"at risk", Attributes{Segment: directory.SegmentAtRisk, Caller: caller}, morning,
			Decision{Action: config.ActionQueue, Queue: "complaints", Priority: 5, Rule: "at-risk", Open: true,
				Skills: []SkillReq{{"complaints", 3}}}},
		{"complaint reason", Attributes{Segment: directory.SegmentPotential, Reason: "complaint", Caller: caller}, morning,
			Decision{Action: config.ActionQueue, Queue: "complaints", Rule: "complaint", Open: true, Skills: []SkillReq{{"complaints", 2}}}},
		{"proactive", Attributes{Style: directory.StyleProactive, Caller: caller}, morning,
			Decision{Action: config.ActionQueue, Queue: "general", Priority: 2, Rule: "proactive", Open: true, Skills: []SkillReq{{"product", 3}}}},
		{"dialled number", Attributes{Dialled: "+18005550100", Caller: caller}, morning,
			Decision{Action: config.ActionQueue, Queue: "senior", Priority: 20, Rule: "vip-hotline", Open: true}},
		{"caller prefix in national form", Attributes{Caller: "+842838001234"}, morning,
			Decision{Action: config.ActionMessage, Message: "test", Rule: "staff-test", Open: true}},
		{"after hours: voicemail", Attributes{Caller: caller}, night,
			Decision{Action: config.ActionVoicemail, Queue: "general", Message: "closed", Rule: "default", AfterHours: true}},
		{"after hours: on-call queue", Attributes{Segment: directory.SegmentAtRisk, Caller: caller}, night,
			Decision{Action: config.ActionQueue, Queue: "oncall", Priority: 5, Rule: "at-risk", AfterHours: true}},
		{"night rule for loyal", Attributes{Segment: directory.SegmentLoyal, Caller: caller}, night,
			Decision{Action: config.ActionQueue, Queue: "oncall", Priority: 1, Rule: "night", Open: true}},
	}
	for _, tt := range tests {
		got := r.Decide(tt.attrs, tt.at)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

// A queue is open while its schedule is; one without a schedule, or not
// configured, always is.
func TestQueueOpen(t *testing.T) {
	c := configtest.MustValid(t, configtest.CareConfig())
	r, err := NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	wed10 := time.Date(2026, 11, 25, 10, 0, 0, 0, hcm)
	wed21 := time.Date(2026, 11, 25, 21, 0, 0, 0, hcm)
	tests := []struct {
		queue string
		at    time.Time
		want  bool
	}{
		{"general", wed10, true},
		{"general", wed21, false},
		{"oncall", wed21, true},
		{"nowhere", wed21, true},
	}
	for _, tt := range tests {
		if got := r.QueueOpen(tt.queue, tt.at); got != tt.want {
			t.Errorf("QueueOpen(%s, %v) = %v, want %v", tt.queue, tt.at, got, tt.want)
		}
	}
	if s, ok := r.QueueSchedule("general"); !ok || s.Name() != "office" {
		t.Errorf("QueueSchedule(general) = %v %v, want office", s, ok)
	}
}

func TestDefaultConfigRoutesEverythingToOneQueue(t *testing.T) {
	c := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	if len(c.Queues) != 1 || c.Queues[0].Name != config.DefaultQueueName || len(c.Rules) != 1 {
		t.Fatalf("defaults: queues %+v rules %+v", c.Queues, c.Rules)
	}
	r, err := NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Decide(Attributes{Segment: directory.SegmentAtRisk}, time.Now())
	if d.Action != config.ActionQueue || d.Queue != config.DefaultQueueName {
		t.Fatalf("decision %+v", d)
	}
}

// TestExampleConfigEngineSection validates the routing engine example kept
// (commented out) in deploy/hotline.example.yaml.
func TestExampleConfigEngineSection(t *testing.T) {
	c := configtest.ExampleEngine(t, "../../deploy/hotline.example.yaml")
	c.Hotlines = []config.Hotline{{Number: "1900"}}
	c.Agents = []config.Agent{{Username: "alice", Password: "x", Skills: map[string]int{"complaints": 4}, Queues: []string{"general", "complaints"}}}
	configtest.MustValid(t, &c)
	if _, err := NewRouter(&c); err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 4 || len(c.Queues) != 4 || c.Directory.CRM.Timeout != 500*time.Millisecond {
		t.Fatalf("example not fully read: %d rules, %d queues", len(c.Rules), len(c.Queues))
	}
}

// TestRouterReplace: a replaced configuration decides the next calls,
// decisions made meanwhile use one configuration or the other, and a
// configuration that cannot be compiled leaves the router as it was.
func TestRouterReplace(t *testing.T) {
	one := func(queue string) *config.Config {
		c := configtest.BaseConfig(configtest.Agents("alice")...)
		c.Queues = []config.QueueDef{{Name: queue}}
		c.Rules = []config.RuleConfig{{Name: "all", Queue: queue}}
		return configtest.MustValid(t, c)
	}
	r, err := NewRouter(one("first"))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		var bad error
		for {
			select {
			case <-stop:
				done <- bad
				return
			default:
			}
			if q := r.Decide(Attributes{}, time.Now()).Queue; q != "first" && q != "second" && bad == nil {
				bad = fmt.Errorf("decision for queue %q", q)
			}
		}
	}()
	if err := r.Replace(one("second")); err != nil {
		t.Fatal(err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Error(err)
	}
	if d := r.Decide(Attributes{}, time.Now()); d.Queue != "second" {
		t.Fatalf("after Replace: %+v", d)
	}
	bad := one("third")
	bad.Rules[0].Queue = "nowhere"
	if err := r.Replace(bad); err == nil {
		t.Fatal("Replace with a rule to an unknown queue: no error")
	}
	if d := r.Decide(Attributes{}, time.Now()); d.Queue != "second" {
		t.Fatalf("after a refused Replace: %+v", d)
	}
}
