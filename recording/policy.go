package recording

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"

	"hotline/internal/cfg"
)

// When recording starts.
const (
	// StartBridge records from the moment caller and agent are connected.
	StartBridge = "bridge"
	// StartAnswer records from the moment Hotline answers the caller, so
	// the time in the queue is recorded too (the agent channel is silent
	// until the bridge).
	StartAnswer = "answer"
)

// Policy decides which calls are recorded: a share of calls, per queue
// (today: the hotline number dialled) and per customer segment.
type Policy struct {
	// Percent of calls recorded when no queue or segment entry applies,
	// 0 to 100; default 100 (every call).
	Percent *float64 `yaml:"percent"`
	// Queues overrides Percent for calls through a queue.
	Queues map[string]float64 `yaml:"queues"`
	// Segments overrides Percent (and Queues) for callers of a segment.
	Segments map[string]float64 `yaml:"segments"`
}

// Share is the percentage of calls of that queue and segment to record.
func (p *Policy) Share(queue, segment string) float64 {
	if v, ok := p.Segments[segment]; ok && segment != "" {
		return v
	}
	if v, ok := p.Queues[queue]; ok && queue != "" {
		return v
	}
	if p.Percent == nil {
		return 100
	}
	return *p.Percent
}

// None reports whether the policy records no call at all (every share
// 0).
func (p *Policy) None() bool {
	if p.Percent == nil || *p.Percent > 0 {
		return false
	}
	for _, m := range []map[string]float64{p.Queues, p.Segments} {
		for _, v := range m {
			if v > 0 {
				return false
			}
		}
	}
	return true
}

func (p *Policy) validate() error {
	var errs []error
	check := func(field string, v float64) {
		if v < 0 || v > 100 {
			errs = append(errs, cfg.Errorf(field, "must be a percentage from 0 to 100, got %g", v))
		}
	}
	if p.Percent != nil {
		check("percent", *p.Percent)
	}
	for _, m := range []struct {
		name string
		m    map[string]float64
	}{{"queues", p.Queues}, {"segments", p.Segments}} {
		keys := make([]string, 0, len(m.m))
		for k := range m.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			check(fmt.Sprintf("%s.%s", m.name, k), m.m[k])
		}
	}
	return errors.Join(errs...)
}

// ShouldRecord applies the configured policy to one call.
func (m *Manager) ShouldRecord(queue, segment string) bool {
	share := m.cfg.Policy.Share(queue, segment)
	switch {
	case share >= 100:
		return true
	case share <= 0:
		return false
	}
	return rand.Float64()*100 < share
}

// StartAtAnswer says whether recordings start when the caller is answered
// (rather than when the agent is connected).
func (m *Manager) StartAtAnswer() bool { return m.cfg.Start == StartAnswer }

// SetAgent records which agent took the call, for recordings begun before
// the bridge.
func (r *Recorder) SetAgent(agent string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return ErrFinished
	}
	r.info.Agent = agent
	return r.saveLocked()
}
