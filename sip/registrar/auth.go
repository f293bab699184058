package registrar

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Reasons a request fails digest authentication. They wrap one another
// as little as possible so callers can tell them apart with errors.Is.
var (
	// ErrNoCredentials means the request carried no Authorization header.
	ErrNoCredentials = errors.New("registrar: no credentials")
	// ErrMalformedCredentials means the Authorization header could not be
	// parsed or uses an unsupported scheme, algorithm or qop.
	ErrMalformedCredentials = errors.New("registrar: malformed credentials")
	// ErrRealmMismatch means no Authorization header was for our realm.
	ErrRealmMismatch = errors.New("registrar: credentials for another realm")
	// ErrUserMismatch means the digest username is not the user the
	// request speaks for (To of a REGISTER, From otherwise).
	ErrUserMismatch = errors.New("registrar: digest username does not match request")
	// ErrUnknownUser means the digest username has no credentials.
	ErrUnknownUser = errors.New("registrar: unknown user")
	// ErrBadCredentials means the digest response is wrong.
	ErrBadCredentials = errors.New("registrar: bad credentials")
	// ErrStaleNonce means the response was right but the nonce expired or
	// was not issued by this registrar.
	ErrStaleNonce = errors.New("registrar: stale nonce")
	// ErrReplay means the (nonce, nc) pair was already used.
	ErrReplay = errors.New("registrar: replayed nonce count")
)

const (
	algSHA256 = "SHA-256"
	algMD5    = "MD5"

	nonceRandLen = 8
	nonceMACLen  = 16
	nonceLen     = 8 + nonceRandLen + nonceMACLen
)

// nonceUse remembers a nonce that authenticated a request with qop, so
// that a (nonce, nc) pair is accepted only once. The registrar keeps it
// by value: one object fewer per agent's nonce for every collection of
// the garbage collector to mark.
type nonceUse struct {
	expires time.Time
	maxNC   uint32
}

// newNonce returns a fresh nonce: issue time, random bytes and an HMAC
// over both, hex encoded. Nonces are verified without server state; only
// used ones are remembered (for nc replay detection), so unauthenticated
// requests cannot grow memory.
func (r *Registrar) newNonce(now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8 : 8+nonceRandLen]) // never fails (crypto/rand)
	mac := hmac.New(sha256.New, r.secret[:])
	mac.Write(b[:8+nonceRandLen])
	copy(b[8+nonceRandLen:], mac.Sum(nil))
	return hex.EncodeToString(b[:])
}

// checkNonce reports whether nonce was issued by this registrar and is
// not older than NonceTTL, and when it stops being valid.
func (r *Registrar) checkNonce(nonce string, now time.Time) (expires time.Time, ok bool) {
	if len(nonce) != 2*nonceLen {
		return time.Time{}, false
	}
	var b [nonceLen]byte
	if _, err := hex.Decode(b[:], []byte(nonce)); err != nil {
		return time.Time{}, false
	}
	mac := hmac.New(sha256.New, r.secret[:])
	mac.Write(b[:8+nonceRandLen])
	if !hmac.Equal(mac.Sum(nil)[:nonceMACLen], b[8+nonceRandLen:]) {
		return time.Time{}, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	age := now.Sub(issued)
	if age > r.cfg.NonceTTL || age < -r.cfg.NonceTTL {
		return time.Time{}, false
	}
	return issued.Add(r.cfg.NonceTTL), true
}

// challenges builds the WWW-Authenticate values, one per configured
// algorithm in order of preference (RFC 8760), each with its own nonce.
func (r *Registrar) challenges(stale bool) []string {
	now := r.now()
	out := make([]string, 0, len(r.cfg.Algorithms))
	for _, alg := range r.cfg.Algorithms {
		c := digest.Challenge{
			Realm:     r.cfg.Realm,
			Nonce:     r.newNonce(now),
			Opaque:    r.opaque,
			Stale:     stale,
			Algorithm: alg,
			QOP:       []string{"auth"},
		}
		out = append(out, c.String())
	}
	return out
}

// verify checks the digest credentials of req against wantUser. It returns
// the authenticated username or one of the Err* reasons above.
func (r *Registrar) verify(req *sip.Request, wantUser string) (string, error) {
	hdrs := req.GetHeaders("Authorization")
	if len(hdrs) == 0 {
		return "", ErrNoCredentials
	}
	var cred *digest.Credentials
	for _, h := range hdrs {
		c, err := digest.ParseCredentials(h.Value())
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrMalformedCredentials, err)
		}
		if c.Realm == r.cfg.Realm {
			cred = c
			break
		}
	}
	if cred == nil {
		return "", ErrRealmMismatch
	}
	if cred.Username == "" || cred.Nonce == "" || cred.URI == "" || cred.Response == "" {
		return "", fmt.Errorf("%w: missing username, nonce, uri or response", ErrMalformedCredentials)
	}
	if cred.Userhash {
		return "", fmt.Errorf("%w: userhash not supported", ErrMalformedCredentials)
	}
	alg := strings.ToUpper(cred.Algorithm)
	if alg == "" {
		alg = algMD5 // RFC 7616 §3.4: absent means MD5
	}
	if !slices.Contains(r.cfg.Algorithms, alg) {
		return "", fmt.Errorf("%w: unsupported algorithm %q", ErrMalformedCredentials, cred.Algorithm)
	}
	var h hash.Hash
	if alg == algSHA256 {
		h = sha256.New()
	} else {
		h = md5.New()
	}
	switch cred.QOP {
	case "":
	case "auth":
		if cred.Cnonce == "" || cred.Nc <= 0 {
			return "", fmt.Errorf("%w: qop=auth needs cnonce and nc", ErrMalformedCredentials)
		}
	default:
		return "", fmt.Errorf("%w: unsupported qop %q", ErrMalformedCredentials, cred.QOP)
	}
	if cred.Username != wantUser {
		return cred.Username, ErrUserMismatch
	}
	secret, ok := r.creds(cred.Username)
	if !ok {
		return cred.Username, ErrUnknownUser
	}

	var ha1 string
	switch {
	case secret.Password != "":
		ha1 = hashJoin(h, cred.Username, r.cfg.Realm, secret.Password)
	case alg == algSHA256:
		ha1 = strings.ToLower(secret.HA1SHA256)
	default:
		ha1 = strings.ToLower(secret.HA1MD5)
	}
	if ha1 == "" {
		// No secret for this algorithm: the answer cannot be right.
		return cred.Username, ErrBadCredentials
	}
	ha2 := hashJoin(h, string(req.Method), cred.URI)
	var want string
	if cred.QOP == "" {
		want = hashJoin(h, ha1, cred.Nonce, ha2)
	} else {
		want = hashJoin(h, ha1, cred.Nonce, fmt.Sprintf("%08x", cred.Nc), cred.Cnonce, cred.QOP, ha2)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cred.Response))) != 1 {
		return cred.Username, ErrBadCredentials
	}

	now := r.now()
	expires, fresh := r.checkNonce(cred.Nonce, now)
	if !fresh {
		return cred.Username, ErrStaleNonce
	}
	if cred.QOP != "" {
		nc := uint32(cred.Nc)
		r.mu.Lock()
		use, seen := r.nonces[cred.Nonce]
		if seen && nc <= use.maxNC {
			r.mu.Unlock()
			return cred.Username, ErrReplay
		}
		if !seen {
			use.expires = expires
		}
		use.maxNC = nc
		r.nonces[cred.Nonce] = use
		r.mu.Unlock()
	}
	return cred.Username, nil
}

func hashJoin(h hash.Hash, parts ...string) string {
	h.Reset()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// authenticate verifies req for wantUser and, on failure, responds with
// 400, 401 (with challenges) or 403 itself.
func (r *Registrar) authenticate(req *sip.Request, tx sip.ServerTransaction, wantUser string) (string, bool) {
	client := r.clientAddr(req)
	if until, ok := r.isBlocked(client, wantUser); ok {
		secs := int(until.Sub(r.now()).Seconds()) + 1
		r.respond(req, tx, sip.StatusForbidden, "Forbidden", sip.NewHeader("Retry-After", strconv.Itoa(secs)))
		return "", false
	}
	user, err := r.verify(req, wantUser)
	if err == nil {
		return user, true
	}
	log := r.log.With("method", string(req.Method), "source", req.Source(), "user", user, "want_user", wantUser)
	switch {
	case errors.Is(err, ErrNoCredentials):
		log.Debug("challenging request")
		r.challenge(req, tx, false)
	case errors.Is(err, ErrStaleNonce):
		log.Debug("stale nonce, challenging again")
		r.challenge(req, tx, true)
	case errors.Is(err, ErrRealmMismatch), errors.Is(err, ErrReplay):
		log.Info("authentication rejected, challenging again", "reason", err)
		r.challenge(req, tx, false)
	case errors.Is(err, ErrMalformedCredentials):
		log.Info("malformed Authorization header", "reason", err)
		r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
	default:
		log.Warn("authentication failed", "reason", err)
		r.failed(client, wantUser)
		r.respond(req, tx, sip.StatusForbidden, "Forbidden")
	}
	return "", false
}

func (r *Registrar) challenge(req *sip.Request, tx sip.ServerTransaction, stale bool) {
	hdrs := make([]sip.Header, 0, len(r.cfg.Algorithms))
	for _, c := range r.challenges(stale) {
		hdrs = append(hdrs, sip.NewHeader("WWW-Authenticate", c))
	}
	r.respond(req, tx, sip.StatusUnauthorized, "Unauthorized", hdrs...)
}

// Authenticate checks the digest credentials of any request (for example
// an INVITE from an agent's softphone) using the same nonces as
// registrations. The digest username must be the From user (the To user
// for REGISTER). On failure it responds 400, 401 with a fresh challenge or
// 403 itself and returns ok=false.
func (r *Registrar) Authenticate(req *sip.Request, tx sip.ServerTransaction) (username string, ok bool) {
	var want string
	if req.Method == sip.REGISTER {
		to := req.To()
		if to == nil {
			r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
			return "", false
		}
		want = to.Address.User
	} else {
		from := req.From()
		if from == nil {
			r.respond(req, tx, sip.StatusBadRequest, "Bad Request")
			return "", false
		}
		want = from.Address.User
	}
	return r.authenticate(req, tx, want)
}
