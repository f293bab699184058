package registrar

import (
	"net"
	"time"
)

// AuthStats counts failed authentications and blocks.
type AuthStats struct {
	// Failures is the number of rejected credentials (403).
	Failures uint64
	// Blocks is how many times an address or username was blocked.
	Blocks uint64
	// BlockedNow is how many addresses and usernames are blocked now.
	BlockedNow int
}

// AuthStats returns the authentication counters.
func (r *Registrar) AuthStats() AuthStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	now := r.now()
	for _, until := range r.blocked {
		if now.Before(until) {
			st.BlockedNow++
		}
	}
	return st
}

func limitKeys(source, user string) []string {
	host, _, err := net.SplitHostPort(source)
	if err != nil {
		host = source
	}
	keys := []string{"ip:" + host}
	if user != "" {
		keys = append(keys, "user:"+user)
	}
	return keys
}

// isBlocked says whether requests from source or for user are refused now.
func (r *Registrar) isBlocked(source, user string) (until time.Time, blocked bool) {
	if r.cfg.MaxFailures < 0 {
		return time.Time{}, false
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range limitKeys(source, user) {
		if u, ok := r.blocked[k]; ok && now.Before(u) && u.After(until) {
			until, blocked = u, true
		}
	}
	return until, blocked
}

// failed records a rejected authentication and blocks the source address
// or the username once it has failed MaxFailures times within the window.
func (r *Registrar) failed(source, user string) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Failures++
	if r.cfg.MaxFailures < 0 {
		return
	}
	for _, k := range limitKeys(source, user) {
		recent := r.failures[k][:0]
		for _, t := range r.failures[k] {
			if now.Sub(t) < r.cfg.FailureWindow {
				recent = append(recent, t)
			}
		}
		recent = append(recent, now)
		r.failures[k] = recent
		if len(recent) >= r.cfg.MaxFailures {
			r.blocked[k] = now.Add(r.cfg.BlockFor)
			delete(r.failures, k)
			r.stats.Blocks++
			r.log.Warn("blocking after repeated authentication failures", "key", k, "failures", len(recent), "for", r.cfg.BlockFor)
		}
	}
}

// sweepFailuresLocked forgets old failures and ended blocks.
func (r *Registrar) sweepFailuresLocked(now time.Time) {
	for k, ts := range r.failures {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= r.cfg.FailureWindow {
			delete(r.failures, k)
		}
	}
	for k, until := range r.blocked {
		if !now.Before(until) {
			delete(r.blocked, k)
		}
	}
}
