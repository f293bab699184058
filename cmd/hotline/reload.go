package main

import (
	"context"
	"errors"
	"os"
	"reflect"
	"time"

	"hotline/routing/rules"
)

// reloadPoll is how often the configuration file is checked for changes.
const reloadPoll = 2 * time.Second

// reload reads the configuration file again and applies, without a
// restart and without dropping a call or a waiting caller's place, the
// hotline numbers, agents and their SIP secrets, queues, rules and
// schedules, and the customer directory. A file with errors changes
// nothing: every problem is logged and hotline_config_last_reload_successful
// drops to 0 (an alert watches it) until a good reload. Changes to the
// sections that need a restart (listeners, media, recording, survey,
// API, metrics, log, keypad questions...) are logged as such.
func (a *app) reload(path string) bool {
	n, err := loadConfig(path)
	if err == nil {
		// Compile the rules first: nothing is applied unless all is.
		_, err = rules.NewRouter(&n.Config)
	}
	if err == nil {
		err = a.acd.Reconfigure(&n.Config)
	}
	if err != nil {
		lines := []string{err.Error()}
		var ce *ConfigError
		if errors.As(err, &ce) {
			lines = ce.Lines
		}
		for _, l := range lines {
			a.log.Error("configuration not reloaded", "problem", l)
		}
		a.log.Error("configuration not reloaded: the previous one stays in force", "file", path, "problems", len(lines))
		a.metrics.ConfigReloaded(false)
		return false
	}
	_ = a.router.Replace(&n.Config) // compiled above
	old := a.cfg.Load()
	old.Config.Reload(&n.Config)
	if err := a.directory.Reload(); err != nil {
		a.log.Warn("customer directory not reloaded; keeping the previous one", "error", err)
	}
	for _, s := range restartSections(old, n) {
		a.log.Warn("configuration change needs a restart to apply", "section", s)
	}
	a.cfg.Store(n)
	a.metrics.ConfigReloaded(true)
	a.log.Info("configuration reloaded", "file", path, "hotlines", len(n.Hotlines), "agents", len(n.Agents),
		"queues", len(n.Queues), "rules", len(n.Rules))
	return true
}

// restartSections names the sections that differ between old and n and
// are not applied by a reload.
func restartSections(old, n *Config) []string {
	var out []string
	for _, s := range []struct {
		name     string
		old, new any
	}{
		{"sip", old.SIP, n.SIP}, {"rtp", old.RTP, n.RTP}, {"recording", old.Recording, n.Recording},
		{"survey", old.Survey, n.Survey}, {"api", old.API, n.API}, {"metrics", old.Metrics, n.Metrics},
		{"log", old.Log, n.Log}, {"queue", old.Queue, n.Queue}, {"ivr", old.IVR, n.IVR},
		{"callbacks", old.Callbacks, n.Callbacks}, {"directory", old.Directory, n.Directory},
	} {
		if !reflect.DeepEqual(s.old, s.new) {
			out = append(out, s.name)
		}
	}
	return out
}

// fileStamp identifies a version of a file: a change of either means the
// file was written again.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, false
	}
	return fileStamp{st.ModTime(), st.Size()}, true
}

// watchConfig sends on changed each time the file at path is written
// again (checked every reloadPoll), until ctx ends.
func watchConfig(ctx context.Context, path string, changed chan<- struct{}) {
	last, _ := stampOf(path)
	t := time.NewTicker(reloadPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, ok := stampOf(path)
		if !ok || now == last {
			continue
		}
		last = now
		select {
		case changed <- struct{}{}:
		default: // a reload is already pending
		}
	}
}
