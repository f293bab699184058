package registrar

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
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

// limitKeys are what failures are counted by: the client's address
// (none when "") and the username.
func limitKeys(source, user string) []string {
	var keys []string
	if source != "" {
		keys = append(keys, "ip:"+hostOf(source))
	}
	if user != "" {
		keys = append(keys, "user:"+user)
	}
	return keys
}

// hostOf is the host of a host:port (an IPv6 one bracketed), else addr.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return strings.Trim(addr, "[]")
}

// clientAddr is the address failures of req are counted by: its source,
// or, from a trusted proxy, the phone's address as the proxy recorded it:
// the first Path's received parameter (Kamailio's add_path_received),
// else the first Via not sent by a trusted proxy (its received
// parameter, else its host). "" when a trusted proxy recorded none, or
// only a trusted proxy's address (a chain of proxies, or a phone on the
// proxy's host): failures then count by username only.
func (r *Registrar) clientAddr(req *sip.Request) string {
	src := req.Source()
	if !r.isTrusted(hostOf(src)) {
		return src
	}
	for _, h := range req.GetHeaders("Path") {
		for _, v := range splitList(h.Value()) {
			var u sip.Uri
			if len(v) < 2 || sip.ParseUri(v[1:len(v)-1], &u) != nil {
				continue
			}
			if recv, ok := u.UriParams.Get("received"); ok && recv != "" {
				if a := receivedHost(recv); a != "" && !r.isTrusted(a) {
					return a
				}
			}
		}
	}
	for _, h := range req.GetHeaders("Via") {
		via, ok := h.(*sip.ViaHeader)
		if !ok {
			continue
		}
		if r.isTrusted(hostOf(via.Host)) {
			continue // a proxy's own Via
		}
		host := via.Host
		if recv, ok := via.Params.Get("received"); ok && recv != "" {
			host = recv
		}
		if a, err := netip.ParseAddr(hostOf(host)); err == nil && !r.isTrusted(a.String()) {
			return a.String()
		}
		return ""
	}
	return ""
}

// receivedHost is the host of a Path's received parameter
// ("sip:192.0.2.7:5062;transport=udp", possibly %-escaped), "" if none.
func receivedHost(v string) string {
	if s, err := url.PathUnescape(v); err == nil {
		v = s
	}
	var u sip.Uri
	if err := sip.ParseUri(v, &u); err == nil && u.Host != "" {
		v = u.Host
	}
	if a, err := netip.ParseAddr(hostOf(v)); err == nil {
		return a.String()
	}
	return ""
}

// isTrusted says whether host is the address of a trusted proxy.
func (r *Registrar) isTrusted(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
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
