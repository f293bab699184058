package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"path"
	"strings"
)

// principal is who a request acts as.
type principal struct {
	name  string // the token's name ("loopback" without tokens)
	scope string
	agent string // for ScopeAgent
}

type principalKey struct{}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// lookup finds the credential of a presented token. Every credential is
// compared, in constant time, whether or not one matched already.
func (s *Server) lookup(tok string) (credential, bool) {
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range s.creds {
		if subtle.ConstantTimeCompare(sum[:], s.creds[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return credential{}, false
	}
	return s.creds[found], true
}

// authenticate identifies the caller by their bearer token: 401 with
// WWW-Authenticate when it is missing or unknown. Public routes
// (/healthz, the OpenAPI document, pre-signed downloads, which carry their
// own signature) need none.
// Without any token configured (loopback only) every caller is a
// supervisor.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As the mux will see it (it redirects unclean paths).
		clean := path.Clean(r.URL.Path)
		if s.publicPath(clean) {
			next.ServeHTTP(w, r)
			return
		}
		if s.credErr != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, "the API's tokens could not be loaded; see the log")
			return
		}
		p := principal{name: "loopback", scope: ScopeSupervisor}
		if len(s.creds) > 0 {
			tok, ok := bearer(r)
			var cr credential
			if ok {
				cr, ok = s.lookup(tok)
			}
			if !ok {
				challenge := `Bearer realm="hotline"`
				msg := "a bearer token is required (Authorization: Bearer <token>)"
				reason := "no token"
				if r.Header.Get("Authorization") != "" {
					challenge += `, error="invalid_token"`
					msg = "the bearer token is not valid"
					reason = "invalid token"
				}
				// Never the token: only that it was wrong.
				s.deps.Log.Warn("API request refused", "reason", reason, "remote", r.RemoteAddr,
					"method", r.Method, "path", r.URL.Path)
				w.Header().Set("WWW-Authenticate", challenge)
				writeError(w, http.StatusUnauthorized, CodeUnauthorized, msg)
				return
			}
			p = principal{name: cr.name, scope: cr.scope, agent: cr.agent}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// forbid answers 403 to a token whose scope does not allow the request.
func (s *Server) forbid(w http.ResponseWriter, r *http.Request, p principal, msg string) {
	s.deps.Log.Warn("API request forbidden", "token", p.name, "scope", p.scope, "agent", p.agent,
		"remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
	w.Header().Set("WWW-Authenticate", `Bearer realm="hotline", error="insufficient_scope"`)
	writeError(w, http.StatusForbidden, CodeForbidden, msg)
}

// supervisor allows only supervisor-scoped tokens.
func (s *Server) supervisor(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := principalOf(r); p.scope != ScopeSupervisor {
			s.forbid(w, r, p, "token "+quote(p.name)+" is bound to agent "+quote(p.agent)+": only a supervisor token may do this")
			return
		}
		h(w, r)
	}
}

// self allows supervisor tokens, and agent tokens when the {id} of the
// path is their own agent.
func (s *Server) self(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if p.scope != ScopeSupervisor && (p.scope != ScopeAgent || r.PathValue("id") != p.agent) {
			s.forbid(w, r, p, "token "+quote(p.name)+" may act only for agent "+quote(p.agent))
			return
		}
		h(w, r)
	}
}
