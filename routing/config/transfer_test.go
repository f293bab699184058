package config_test

import (
	"strings"
	"testing"

	"hotline/internal/cfg"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

func TestTransferNumbersAndRoles(t *testing.T) {
	c := configtest.CareConfig()
	c.Agents = append(c.Agents, config.Agent{Username: "sue", Password: "pw", Role: config.RoleSupervisor},
		config.Agent{Username: "2042", Password: "pw"})
	c.Queues[0].TransferNumber = "2001"
	c.Queues[1].TransferNumber = "2002"
	configtest.MustValid(t, c)
	if !c.IsSupervisor("sue") || c.IsSupervisor(c.Agents[0].Username) || c.IsSupervisor("nobody") {
		t.Error("IsSupervisor: sue is the only supervisor")
	}

	for _, tc := range []struct {
		name  string
		edit  func(*config.Config)
		field string
		msg   string
	}{
		{"bad role", func(c *config.Config) { c.Agents[0].Role = "boss" }, "agents[0].role", `"boss" is not a role`},
		{"duplicate", func(c *config.Config) { c.Queues[1].TransferNumber = "2001" }, "queues[1].transfer_number", "already the transfer number of queues[0]"},
		{"hotline number", func(c *config.Config) { c.Queues[1].TransferNumber = "1900" }, "queues[1].transfer_number", "already the number of hotlines[0]"},
		{"agent username", func(c *config.Config) { c.Queues[1].TransferNumber = "2042" }, "queues[1].transfer_number", "already the username of agents["},
		{"not digits", func(c *config.Config) { c.Queues[1].TransferNumber = "+2002" }, "queues[1].transfer_number", "2 to 20 digits"},
		{"feature code", func(c *config.Config) { c.Queues[1].TransferNumber = "*31" }, "queues[1].transfer_number", "2 to 20 digits"},
		{"too short", func(c *config.Config) { c.Queues[1].TransferNumber = "7" }, "queues[1].transfer_number", "2 to 20 digits"},
	} {
		c := configtest.CareConfig()
		c.Agents = append(c.Agents, config.Agent{Username: "2042", Password: "pw"})
		c.Queues[0].TransferNumber = "2001"
		tc.edit(c)
		c.SetDefaults()
		err := c.Validate()
		found := false
		for _, fe := range cfg.Fields(err) {
			if fe.Field == tc.field && strings.Contains(fe.Msg, tc.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want %s: ...%s..., got %v", tc.name, tc.field, tc.msg, err)
		}
	}
}
