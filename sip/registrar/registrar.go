// Package registrar keeps agents' softphones registered (RFC 3261 §10.3)
// and authenticates their requests with HTTP digest (RFC 7616, RFC 8760:
// SHA-256 and MD5, qop=auth or none).
//
// Path (RFC 3327): a REGISTER that crossed an edge proxy (Kamailio in
// front of several Hotline nodes, deploy/kamailio) carries the proxies'
// Path headers. They are stored with the binding, and Binding.RouteSet
// gives them back as the Route headers of a request to that phone, so
// that the request goes through the edge that can reach it. The Path is
// stored whether or not the phone said "Supported: path" (phones behind
// the edge need it to be reachable); it is returned in the 200 OK only
// when the phone did (RFC 3327 §5.3).
package registrar

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// sweepInterval is how often Run drops expired bindings.
const sweepInterval = time.Second

// dateFormat is the SIP Date header format (RFC 3261 §20.17, RFC 1123 in GMT).
const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// Binding is one registered contact of a user.
type Binding struct {
	// Username is the agent the contact belongs to.
	Username string
	// Contact is the Contact URI as registered.
	Contact sip.Uri
	// Source is the host:port the REGISTER came from.
	Source string
	// Transport is "UDP", "TCP", "TLS", ... as the REGISTER arrived.
	Transport string
	// Expires is when the binding lapses unless refreshed.
	Expires time.Time
	// CallID and CSeq are those of the REGISTER that last set the binding.
	CallID string
	CSeq   uint32
	// UserAgent is the User-Agent header of that REGISTER.
	UserAgent string
	// Path holds the REGISTER's Path header values (RFC 3327), one
	// name-addr each, first proxy first; empty when the phone registered
	// directly.
	Path []string
}

// RouteSet returns the Route headers a request to this binding's contact
// carries: one per Path entry, in order (RFC 3327 §5.3). Sent with them,
// the request goes to the first proxy of the Path, which relays it.
func (b Binding) RouteSet() []sip.Header {
	out := make([]sip.Header, 0, len(b.Path))
	for _, p := range b.Path {
		out = append(out, sip.NewHeader("Route", p))
	}
	return out
}

// Credentials looks up an agent's secret; ok=false for unknown users.
type Credentials func(username string) (secret Secret, ok bool)

// Secret is what an agent's digest answers are checked against: the
// password itself, or its HA1 (see HA1) for each algorithm the agent may
// answer with. With a Password the HA1s are not used.
type Secret struct {
	Password string
	// HA1MD5 and HA1SHA256 are hex H(username:realm:password), for
	// deployments that keep no clear-text password.
	HA1MD5    string
	HA1SHA256 string
}

// Algorithms the registrar knows.
const (
	AlgorithmMD5    = algMD5
	AlgorithmSHA256 = algSHA256
)

// HA1 is the hex digest H(username:realm:password) of RFC 7616 for
// algorithm MD5 or SHA-256: what a Secret holds instead of the password.
func HA1(algorithm, username, realm, password string) (string, error) {
	switch strings.ToUpper(algorithm) {
	case algMD5:
		return hashJoin(md5.New(), username, realm, password), nil
	case algSHA256:
		return hashJoin(sha256.New(), username, realm, password), nil
	}
	return "", fmt.Errorf("unknown digest algorithm %q (MD5 or SHA-256)", algorithm)
}

// binding is a stored Binding plus the refresh order.
type binding struct {
	Binding
	seq uint64
}

type userState struct {
	bindings map[string]*binding // by contact key
	online   bool                // last state reported to OnChange
}

type change struct {
	user       string
	registered bool
}

// Registrar holds agents' registrations and authenticates their requests.
// It is safe for concurrent use.
type Registrar struct {
	cfg Config
	// trusted are cfg.TrustedProxies (see clientAddr).
	trusted []netip.Prefix
	creds   Credentials
	now     func() time.Time
	log     *slog.Logger
	secret  [32]byte
	opaque  string

	mu     sync.Mutex
	users  map[string]*userState
	nonces map[string]nonceUse
	seq    uint64
	// gen counts changes to the bindings (see Generation).
	gen       uint64
	listeners []func(username string, registered bool)
	// pending changes not yet given to listeners; delivering is set
	// while a goroutine is handing them out (see notifyUnlock).
	pending    []change
	delivering bool

	// failed authentications and blocks, by "ip:<addr>" and "user:<name>"
	failures map[string][]time.Time
	blocked  map[string]time.Time
	stats    AuthStats
}

// New returns a Registrar. cfg gets its defaults applied; now defaults to
// time.Now and log to a discarding logger.
func New(cfg Config, creds Credentials, now func() time.Time, log *slog.Logger) *Registrar {
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	cfg.SetDefaults()
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if creds == nil {
		creds = func(string) (Secret, bool) { return Secret{}, false }
	}
	trusted, err := cfg.trustedProxies()
	if err != nil { // Validate says so first
		log.Error("registrar: trusted_proxies ignored", "error", err)
	}
	r := &Registrar{
		cfg:      cfg,
		creds:    creds,
		now:      now,
		log:      log,
		users:    map[string]*userState{},
		nonces:   map[string]nonceUse{},
		failures: map[string][]time.Time{},
		blocked:  map[string]time.Time{},
		trusted:  trusted,
	}
	_, _ = rand.Read(r.secret[:]) // never fails (crypto/rand)
	mac := hmac.New(sha256.New, r.secret[:])
	mac.Write([]byte("opaque"))
	r.opaque = hex.EncodeToString(mac.Sum(nil)[:8])
	return r
}

// SetNonceSecret makes the registrar sign its digest nonces with a key
// derived from secret instead of its own random one. Nodes of one cluster
// share it, so that a request challenged by one node may be answered to
// another (the edge does not send a retry to the same node). Nonce-count
// replays are still remembered per node. Call it before serving.
func (r *Registrar) SetNonceSecret(secret []byte) {
	r.secret = sha256.Sum256(secret)
	mac := hmac.New(sha256.New, r.secret[:])
	mac.Write([]byte("opaque"))
	r.opaque = hex.EncodeToString(mac.Sum(nil)[:8])
}

// OnChange registers f to be called when a user goes from no live binding
// to at least one (registered=true) or back (un-REGISTER or expiry). Calls
// happen outside the Registrar's lock, one at a time and in order; f may
// call any Registrar method but should not block for long.
func (r *Registrar) OnChange(f func(username string, registered bool)) {
	r.mu.Lock()
	r.listeners = append(r.listeners, f)
	r.mu.Unlock()
}

// Lookup returns the live (unexpired) bindings of username, most recently
// refreshed first.
func (r *Registrar) Lookup(username string) []Binding {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.liveLocked(username, now)
}

func (r *Registrar) liveLocked(username string, now time.Time) []Binding {
	st := r.users[username]
	if st == nil {
		return nil
	}
	live := make([]*binding, 0, len(st.bindings))
	for _, b := range st.bindings {
		if now.Before(b.Expires) {
			live = append(live, b)
		}
	}
	slices.SortFunc(live, func(a, b *binding) int { return cmp.Compare(b.seq, a.seq) })
	out := make([]Binding, len(live))
	for i, b := range live {
		out[i] = b.Binding
		out[i].Contact = *b.Contact.Clone()
	}
	return out
}

// Generation counts the changes to the bindings: registrations,
// refreshes, removals, expiries (dropped by the sweep, within a second)
// and restores. While it stays the same, so do Save and the bindings
// Registered and Lookup give, but for bindings expiring before the sweep
// drops them: a keeper of the bindings need not read them again.
func (r *Registrar) Generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// Registered returns the users with at least one live binding, sorted.
func (r *Registrar) Registered() []string {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for u, st := range r.users {
		for _, b := range st.bindings {
			if now.Before(b.Expires) {
				out = append(out, u)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// Run drops expired bindings (firing OnChange) and forgotten nonces every
// second until ctx is done. Expiry is decided with the injected clock.
func (r *Registrar) Run(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.sweep()
		}
	}
}

func (r *Registrar) sweep() {
	now := r.now()
	r.mu.Lock()
	for n, u := range r.nonces {
		if !now.Before(u.expires) {
			delete(r.nonces, n)
		}
	}
	r.sweepFailuresLocked(now)
	var changes []change
	for u := range r.users {
		if c, ok := r.settleLocked(u, now); ok {
			changes = append(changes, c)
		}
	}
	r.notifyUnlock(changes)
}

// settleLocked drops expired bindings of user and reports whether its
// registered state changed since the last notification.
func (r *Registrar) settleLocked(user string, now time.Time) (change, bool) {
	st := r.users[user]
	if st == nil {
		return change{}, false
	}
	for k, b := range st.bindings {
		if !now.Before(b.Expires) {
			delete(st.bindings, k)
			r.gen++
			r.log.Info("registration expired", "user", user, "contact", b.Contact.String())
		}
	}
	online := len(st.bindings) > 0
	changed := online != st.online
	st.online = online
	if !online {
		delete(r.users, user)
	}
	return change{user: user, registered: online}, changed
}

// notifyUnlock queues changes, releases r.mu and delivers queued changes
// to the listeners. Only one goroutine delivers at a time, so listeners
// see changes in the order they happened and may call back into the
// Registrar; another goroutine's changes may be delivered by this one.
func (r *Registrar) notifyUnlock(changes []change) {
	r.pending = append(r.pending, changes...)
	if r.delivering {
		r.mu.Unlock()
		return
	}
	r.delivering = true
	for len(r.pending) > 0 {
		batch := r.pending
		r.pending = nil
		listeners := slices.Clone(r.listeners)
		r.mu.Unlock()
		for _, c := range batch {
			for _, f := range listeners {
				f(c.user, c.registered)
			}
		}
		r.mu.Lock()
	}
	r.delivering = false
	r.mu.Unlock()
}

// update is one contact of a REGISTER, with its granted expiry.
type update struct {
	key     string
	contact sip.Uri
	expires uint32 // seconds; 0 removes
}

// HandleRegister handles a REGISTER completely (RFC 3261 §10.3):
// authentication, binding updates and the response.
func (r *Registrar) HandleRegister(req *sip.Request, tx sip.ServerTransaction) {
	to, from, callID, cseq := req.To(), req.From(), req.CallID(), req.CSeq()
	if to == nil || from == nil || callID == nil || cseq == nil || cseq.MethodName != req.Method {
		r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	user, ok := r.authenticate(req, tx, to.Address.User)
	if !ok {
		return
	}
	path, err := requestPath(req)
	if err != nil {
		r.log.Info("bad REGISTER", "user", user, "source", req.Source(), "error", err)
		r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	contacts, wildcard, err := requestContacts(req)
	if err != nil {
		r.log.Info("bad REGISTER", "user", user, "source", req.Source(), "error", err)
		r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	hdrExp, hasHdrExp, err := headerExpires(req)
	if err != nil {
		r.log.Info("bad REGISTER", "user", user, "source", req.Source(), "error", err)
		r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}

	if wildcard {
		if len(contacts) != 1 || !hasHdrExp || hdrExp != 0 {
			r.log.Info("bad REGISTER: wildcard Contact needs Expires: 0 and no other contacts", "user", user)
			r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
			return
		}
		r.apply(req, tx, user, nil, true, path)
		return
	}

	updates := make([]update, 0, len(contacts))
	for _, c := range contacts {
		exp := uint32(seconds(r.cfg.DefaultExpires))
		if hasHdrExp {
			exp = hdrExp
		}
		if v, ok := c.Params.Get("expires"); ok {
			exp, err = parseExpires(v)
			if err != nil {
				r.log.Info("bad REGISTER", "user", user, "source", req.Source(), "error", err)
				r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
				return
			}
		}
		if exp != 0 && time.Duration(exp)*time.Second < r.cfg.MinExpires {
			r.respond(req, tx, sip.StatusIntervalToBrief, "Interval Too Brief",
				sip.NewHeader("Min-Expires", strconv.FormatInt(seconds(r.cfg.MinExpires), 10)))
			return
		}
		if maxSec := seconds(r.cfg.MaxExpires); int64(exp) > maxSec {
			exp = uint32(min(maxSec, math.MaxUint32))
		}
		updates = append(updates, update{key: contactKey(&c.Address), contact: c.Address, expires: exp})
	}
	r.apply(req, tx, user, updates, false, path)
}

// apply changes user's bindings and responds 200 with the resulting ones.
func (r *Registrar) apply(req *sip.Request, tx sip.ServerTransaction, user string, updates []update, removeAll bool, path []string) {
	now := r.now()
	callID := req.CallID().Value()
	cseq := req.CSeq().SeqNo
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}

	r.mu.Lock()
	r.gen++
	st := r.users[user]
	if st == nil {
		st = &userState{bindings: map[string]*binding{}}
		r.users[user] = st
	}
	// Expired bindings are gone before the request is applied.
	for k, b := range st.bindings {
		if !now.Before(b.Expires) {
			delete(st.bindings, k)
		}
	}
	// RFC 3261 §10.3 step 7: a request with the binding's Call-ID and a
	// CSeq not higher than the stored one is out of order; it is not
	// applied to that binding.
	outOfOrder := func(b *binding) bool { return b.CallID == callID && cseq <= b.CSeq }
	if removeAll {
		for k, b := range st.bindings {
			if !outOfOrder(b) {
				delete(st.bindings, k)
				r.log.Info("contact unregistered", "user", user, "contact", b.Contact.String())
			}
		}
	}
	for _, u := range updates {
		b := st.bindings[u.key]
		if b != nil && outOfOrder(b) {
			r.log.Debug("ignoring out-of-order REGISTER for contact", "user", user, "contact", u.contact.String())
			continue
		}
		if u.expires == 0 {
			if b != nil {
				delete(st.bindings, u.key)
				r.log.Info("contact unregistered", "user", user, "contact", u.contact.String())
			}
			continue
		}
		if b == nil {
			b = &binding{}
			st.bindings[u.key] = b
			r.log.Info("contact registered", "user", user, "contact", u.contact.String(),
				"source", req.Source(), "transport", req.Transport(), "expires", u.expires)
		}
		r.seq++
		b.seq = r.seq
		b.Binding = Binding{
			Username:  user,
			Contact:   *u.contact.Clone(),
			Source:    req.Source(),
			Transport: req.Transport(),
			Expires:   now.Add(time.Duration(u.expires) * time.Second),
			CallID:    callID,
			CSeq:      cseq,
			UserAgent: ua,
			Path:      slices.Clone(path),
		}
	}
	live := r.liveLocked(user, now)
	var changes []change
	if c, ok := r.settleLocked(user, now); ok {
		changes = append(changes, c)
	}
	r.notifyUnlock(changes)

	hdrs := make([]sip.Header, 0, len(live)+len(path)+2)
	for _, b := range live {
		params := sip.NewParams()
		params.Add("expires", strconv.FormatInt(remaining(b.Expires, now), 10))
		hdrs = append(hdrs, &sip.ContactHeader{Address: b.Contact, Params: params})
	}
	if len(path) > 0 && supports(req, "path") {
		for _, p := range path {
			hdrs = append(hdrs, sip.NewHeader("Path", p))
		}
		hdrs = append(hdrs, sip.NewHeader("Supported", "path"))
	}
	hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format(dateFormat)))
	r.respond(req, tx, sip.StatusOK, "OK", hdrs...)
}

// respond sends a response built from req with the extra headers.
func (r *Registrar) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		r.log.Warn("sending response failed", "code", code, "source", req.Source(), "error", err)
	}
}

// requestContacts returns the Contact header values of req, one per
// contact, and whether one of them is the wildcard "*".
func requestContacts(req *sip.Request) ([]*sip.ContactHeader, bool, error) {
	var out []*sip.ContactHeader
	wildcard := false
	for _, h := range req.Headers() {
		name := h.Name()
		if !strings.EqualFold(name, "Contact") && !strings.EqualFold(name, "m") {
			continue
		}
		var list []*sip.ContactHeader
		if c, ok := h.(*sip.ContactHeader); ok {
			list = append(list, c)
		} else {
			parsed, err := sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(nil, []byte("Contact: "+h.Value()))
			if err != nil {
				return nil, false, fmt.Errorf("contact %q: %w", h.Value(), err)
			}
			for _, p := range parsed {
				if c, ok := p.(*sip.ContactHeader); ok {
					list = append(list, c)
				}
			}
		}
		for _, c := range list {
			if c.Address.Wildcard {
				wildcard = true
				continue
			}
			if c.Address.Scheme != "sip" && c.Address.Scheme != "sips" || c.Address.Host == "" {
				return nil, false, fmt.Errorf("contact %q: %w", c.Address.String(), errNotSIPURI)
			}
		}
		out = append(out, list...)
	}
	return out, wildcard, nil
}

var errNotSIPURI = errors.New("not a SIP or SIPS URI")

// requestPath returns the Path header values of req (RFC 3327), one
// name-addr each, in order. Each must be a <sip:...> or <sips:...> URI.
func requestPath(req *sip.Request) ([]string, error) {
	var out []string
	for _, h := range req.GetHeaders("Path") {
		for _, v := range splitList(h.Value()) {
			if !strings.HasPrefix(v, "<") || !strings.HasSuffix(v, ">") {
				return nil, fmt.Errorf("path %q: %w", v, errNotSIPURI)
			}
			var u sip.Uri
			if err := sip.ParseUri(v[1:len(v)-1], &u); err != nil {
				return nil, fmt.Errorf("path %q: %w", v, err)
			}
			if u.Scheme != "sip" && u.Scheme != "sips" || u.Host == "" {
				return nil, fmt.Errorf("path %q: %w", v, errNotSIPURI)
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// splitList splits a header value at the commas outside <...> and
// quotes, trimming the parts and dropping empty ones.
func splitList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && (i == 0 || v[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>' && depth > 0:
			depth--
		case c == ',' && depth == 0:
			if p := strings.TrimSpace(v[start:i]); p != "" {
				out = append(out, p)
			}
			start = i + 1
		}
	}
	if p := strings.TrimSpace(v[start:]); p != "" {
		out = append(out, p)
	}
	return out
}

// supports says whether req lists option tag in a Supported header.
func supports(req *sip.Request, tag string) bool {
	for _, name := range []string{"Supported", "k"} {
		for _, h := range req.GetHeaders(name) {
			for _, t := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(t), tag) {
					return true
				}
			}
		}
	}
	return false
}

// headerExpires returns the Expires header value in seconds, if present.
func headerExpires(req *sip.Request) (uint32, bool, error) {
	h := req.GetHeader("Expires")
	if h == nil {
		return 0, false, nil
	}
	v, err := parseExpires(h.Value())
	return v, true, err
}

// parseExpires parses delta-seconds; values beyond 2^32-1 are taken as
// 2^32-1 (RFC 3261 §20.19 allows clamping).
func parseExpires(s string) (uint32, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxUint32, nil
	}
	if err != nil {
		return 0, fmt.Errorf("expires %q: %w", s, err)
	}
	return uint32(v), nil
}

// contactKey identifies a contact URI: scheme and host compare without
// case, parameters without order (a reasonable subset of RFC 3261 §19.1.4).
func contactKey(u *sip.Uri) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(u.Scheme))
	b.WriteByte(':')
	b.WriteString(u.User)
	b.WriteByte('@')
	b.WriteString(strings.ToLower(u.Host))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(u.Port))
	params := make([]string, 0, len(u.UriParams))
	for _, kv := range u.UriParams {
		params = append(params, strings.ToLower(kv.K)+"="+kv.V)
	}
	slices.Sort(params)
	for _, p := range params {
		b.WriteByte(';')
		b.WriteString(p)
	}
	return b.String()
}

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// remaining is the number of seconds until t, rounded to the nearest.
func remaining(t, now time.Time) int64 {
	return int64(t.Sub(now).Round(time.Second) / time.Second)
}
