package config

import (
	"errors"
	"fmt"
	"strings"

	"hotline/internal/cfg"
)

// RoleSupervisor is the agent role that may monitor other agents' calls
// and transfer any call through the API.
const RoleSupervisor = "supervisor"

// IsSupervisor reports whether username is a configured agent with the
// supervisor role.
func (c *Config) IsSupervisor(username string) bool {
	a, ok := c.Agent(username)
	return ok && a.Role == RoleSupervisor
}

// validateTransfers checks agents' roles and queues' transfer numbers:
// a transfer number is 2 to 20 digits, names one queue, and is neither a
// hotline number nor an agent's username (a softphone dialling or
// transferring to it must mean one thing).
func (c *Config) validateTransfers() error {
	var errs []error
	for i, a := range c.Agents {
		if a.Role != "" && a.Role != RoleSupervisor {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("agents[%d].role", i), "%q is not a role (empty for an agent, or %s)", a.Role, RoleSupervisor))
		}
	}
	taken := map[string]string{}
	for i, h := range c.Hotlines {
		taken[h.Number] = fmt.Sprintf("the number of hotlines[%d]", i)
	}
	for i, a := range c.Agents {
		taken[a.Username] = fmt.Sprintf("the username of agents[%d]", i)
	}
	for i, q := range c.Queues {
		n := q.TransferNumber
		if n == "" {
			continue
		}
		f := fmt.Sprintf("queues[%d].transfer_number", i)
		switch {
		case len(n) < 2 || len(n) > 20 || strings.Trim(n, "0123456789") != "":
			errs = append(errs, cfg.Errorf(f, "%q is not a transfer number (2 to 20 digits)", n))
		case taken[n] != "":
			errs = append(errs, cfg.Errorf(f, "%q is already %s", n, taken[n]))
		default:
			taken[n] = fmt.Sprintf("the transfer number of queues[%d]", i)
		}
	}
	return errors.Join(errs...)
}
