package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"hotline/audio"
	"hotline/routing/acd"
	"hotline/routing/rules"
	"hotline/survey"
)

// reloadPoll is how often the configuration file is checked for changes.
const reloadPoll = 2 * time.Second

// reload reads the configuration file again and applies, without a
// restart and without dropping a call or a waiting caller's place, the
// hotline numbers, agents and their SIP secrets, queues, rules and
// schedules, the customer directory, and the prompts when a file of
// survey.prompts_dir changed (a prompt being played plays to its end;
// the next one is the new file). A file with errors changes
// nothing: every problem is logged and hotline_config_last_reload_successful
// drops to 0 (an alert watches it) until a good reload. Changes to the
// sections that need a restart (listeners, media, recording, survey,
// API, metrics, log, keypad questions...) are logged as such; of the
// sip section, sip.overload.max_cps applies (SetMaxCPS). With several
// nodes (a replicated ACD) a file that changes the routing (hotline
// numbers, agents, queues, rules, schedules) is refused (restart the
// nodes one by one); one that does not applies the node's own settings.
func (a *app) reload(path string) bool {
	n, err := loadConfig(path)
	if err == nil {
		// Compile the rules first: nothing is applied unless all is.
		_, err = rules.NewRouter(&n.Config)
	}
	var prompts *audio.Prompts
	var stamp string
	if err == nil {
		prompts, stamp, err = a.changedPrompts()
	}
	old := a.cfg.Load()
	if err == nil {
		err = a.acd.Reconfigure(&n.Config)
		if errors.Is(err, acd.ErrReplicatedReconfigure) && reflect.DeepEqual(old.Config, n.Config) {
			// Several nodes: the agents, queues and rules are unchanged,
			// so the shared ACD has nothing to apply; the node's own
			// settings (sip.overload.max_cps, the customer directory)
			// do.
			err = nil
		}
	}
	if err == nil && prompts != nil {
		if err = a.sip.SetPrompts(prompts); err == nil {
			a.promptsStamp = stamp
			a.log.Info("prompts reloaded", "dir", a.promptsDir, "languages", prompts.Languages())
		}
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
	old.Config.Reload(&n.Config)
	if err := a.directory.Reload(); err != nil {
		a.log.Warn("customer directory not reloaded; keeping the previous one", "error", err)
	}
	if m := n.SIP.Overload.MaxCPS; m != old.SIP.Overload.MaxCPS && !a.sip.SetMaxCPS(m) {
		a.log.Warn("sip.overload.max_cps not applied: overload control is off (sip.overload.enabled: false; turning it on needs a restart)", "max_cps", m)
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

// changedPrompts loads the prompts of the prompts directory again when
// its files changed since they were last loaded (nil when they did not,
// or when the prompts are the embedded ones), checked as at start.
func (a *app) changedPrompts() (*audio.Prompts, string, error) {
	if a.promptsDir == "" {
		return nil, "", nil
	}
	stamp := promptsStamp(a.promptsDir)
	if stamp == a.promptsStamp {
		return nil, "", nil
	}
	p, err := audio.LoadPrompts(os.DirFS(a.promptsDir))
	if err == nil {
		err = survey.CheckPrompts(p, a.cfg.Load().Survey.Language)
	}
	if err != nil {
		return nil, "", fmt.Errorf("survey.prompts_dir %s: %w", a.promptsDir, err)
	}
	return p, stamp, nil
}

// promptsStamp identifies a version of the prompt files of dir (each
// <language>/<name>.wav's name, size and time): it changes when one is
// written, added or removed. "" for an unreadable dir.
func promptsStamp(dir string) string {
	files, err := fs.Glob(os.DirFS(dir), "*/*.wav")
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, f := range files {
		if st, ok := stampOf(filepath.Join(dir, f)); ok {
			fmt.Fprintf(&b, "%s %d %d\n", f, st.size, st.mod.UnixNano())
		}
	}
	return b.String()
}

// restartSections names the sections that differ between old and n and
// are not applied by a reload (sip.overload.max_cps is).
func restartSections(old, n *Config) []string {
	var out []string
	nSIP := n.SIP
	nSIP.Overload.MaxCPS = old.SIP.Overload.MaxCPS
	for _, s := range []struct {
		name     string
		old, new any
	}{
		{"sip", old.SIP, nSIP}, {"rtp", old.RTP, n.RTP}, {"recording", old.Recording, n.Recording},
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

// watchConfig sends on changed each time the file at path, or a prompt
// file of promptsDir (if not ""), is written again (checked every
// reloadPoll), until ctx ends.
func watchConfig(ctx context.Context, path, promptsDir string, changed chan<- struct{}) {
	last, _ := stampOf(path)
	lastPrompts := promptsStamp(promptsDir)
	t := time.NewTicker(reloadPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, ok := stampOf(path)
		nowPrompts := lastPrompts
		if promptsDir != "" {
			nowPrompts = promptsStamp(promptsDir)
		}
		if (!ok || now == last) && nowPrompts == lastPrompts {
			continue
		}
		if ok {
			last = now
		}
		lastPrompts = nowPrompts
		select {
		case changed <- struct{}{}:
		default: // a reload is already pending
		}
	}
}
