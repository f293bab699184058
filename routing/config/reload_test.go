package config_test

import (
	"testing"

	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

// TestReload: after Reload, the holder of the first configuration finds
// the new configuration's hotline numbers, agents (and their secrets) and
// queues, and no longer the removed ones.
func TestReload(t *testing.T) {
	old := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	copyOfOld := *old // a copy (as held elsewhere) follows too
	n := configtest.BaseConfig(config.Agent{Username: "bob", Password: "bob-new"})
	n.Hotlines = []config.Hotline{{Number: "1800"}}
	n.Queues = []config.QueueDef{{Name: "vip"}}
	n.Rules = []config.RuleConfig{{Name: "all", Queue: "vip"}}
	configtest.MustValid(t, n)
	old.Reload(n)
	for _, c := range []*config.Config{old, &copyOfOld} {
		if _, ok := c.Hotline("1800"); !ok {
			t.Error("new hotline number not found")
		}
		if _, ok := c.Hotline("1900"); ok {
			t.Error("removed hotline number still found")
		}
		if a, ok := c.Agent("bob"); !ok || a.DigestPassword() != "bob-new" {
			t.Errorf("new agent: %+v %v", a, ok)
		}
		if _, ok := c.Agent("alice"); ok {
			t.Error("removed agent still found")
		}
		if _, ok := c.QueueByName("vip"); !ok {
			t.Error("new queue not found")
		}
	}
}
