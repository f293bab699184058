package main

import (
	"log/slog"
	"net/http"
	"strconv"

	"hotline/api"
	"hotline/metrics"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/sip"
)

// dispose gives an agent's last finished call a wrap-up code: checked
// against the configured codes (reloads included), logged with the
// call's id (the call record in the log) and counted.
func dispose(c *config.Config, queues *acd.ACD, m *metrics.Metrics, log *slog.Logger) func(agent, code string) (api.Disposition, error) {
	return func(agent, code string) (api.Disposition, error) {
		if _, ok := c.DispositionByCode(code); !ok {
			return api.Disposition{}, &api.Error{Status: http.StatusBadRequest, Code: api.CodeUnknownCode,
				Message: strconv.Quote(code) + " is not a configured wrap-up code (GET /api/v1/dispositions)"}
		}
		last, err := queues.LastCall(agent)
		if err != nil {
			return api.Disposition{}, err
		}
		log.Info("call disposition", "call_id", last.CallID, "agent", agent, "queue", last.Queue, "code", code)
		m.Disposition(last.CallID, last.Queue, code)
		return api.Disposition{Agent: agent, CallID: last.CallID, Queue: last.Queue, Code: code}, nil
	}
}

// disposeByKey is dispose for a code's keypad key (dialled after *25).
func disposeByKey(c *config.Config, byCode func(agent, code string) (api.Disposition, error)) func(agent, key string) error {
	return func(agent, key string) error {
		for _, d := range c.DispositionCodes() {
			if d.Key == key {
				_, err := byCode(agent, d.Code)
				return err
			}
		}
		return sip.ErrUnknownDispositionKey
	}
}

// dispositionCodes lists the configured wrap-up codes in force.
func dispositionCodes(c *config.Config) []api.DispositionCode {
	var out []api.DispositionCode
	for _, code := range c.DispositionCodes() {
		out = append(out, api.DispositionCode{Code: code.Code, Name: code.Name, Key: code.Key})
	}
	return out
}
