package config_test

import (
	"strings"
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

// TestDispositionsConfig: wrap-up codes are checked (format, duplicates,
// keys) and found by code.
func TestDispositionsConfig(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Dispositions = []config.Disposition{{Code: "sale", Name: "Sale", Key: "1"}, {Code: "Bad Code"}, {Code: "sale", Key: "1"}, {Code: "x", Key: "12a"}}
	c.SetDefaults()
	err := c.Validate()
	for _, want := range []string{
		`dispositions[1].code: "Bad Code" must be 1-32 lower-case letters, digits, _ or -`,
		`dispositions[2].code: "sale" is already the code of dispositions[0]`,
		`dispositions[2].key: "1" is already the key of dispositions[0]`,
		`dispositions[3].key: "12a" must be 1-3 digits`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	c.Dispositions = c.Dispositions[:1]
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d, ok := c.DispositionByCode("sale"); !ok || d.Name != "Sale" {
		t.Errorf("DispositionByCode(sale) = %+v %v", d, ok)
	}
	if _, ok := c.DispositionByCode("nope"); ok {
		t.Error("DispositionByCode(nope) found")
	}
}
