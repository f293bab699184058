package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"hotline/recording"
)

// downloadPrefix is where the file backend's recordings are served, to
// holders of a signed, expiring URL only:
//
//	GET /api/v1/download/{key}?expires=<unix seconds>&signature=<HMAC-SHA256>
//
// The signing key is random and lives as long as the process, so a URL
// ends at its expiry or at the next restart, whichever comes first.
const downloadPrefix = "/api/v1/download/"

// sign returns the signature of a download of key valid until expires.
func (s *Server) sign(key string, expires int64) string {
	mac := hmac.New(sha256.New, s.urlKey)
	fmt.Fprintf(mac, "GET\n%s\n%d", key, expires)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// signedURL is the download URL of key, valid until expires, on the
// scheme and host the request came in on.
func (s *Server) signedURL(r *http.Request, key string, expires time.Time) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	exp := expires.Unix()
	u := url.URL{Scheme: scheme, Host: r.Host, Path: downloadPrefix + key,
		RawQuery: url.Values{"expires": {strconv.FormatInt(exp, 10)}, "signature": {s.sign(key, exp)}}.Encode()}
	return u.String()
}

// download serves a file-backend recording to the holder of a valid,
// unexpired signed URL; 403 otherwise (no bearer token is needed, nor
// does one replace the signature).
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	m := s.deps.Recordings
	if m == nil {
		writeError(w, http.StatusNotFound, CodeNotAvailable, "recording is not configured")
		return
	}
	if _, ok := m.Backend().(*recording.FileBackend); !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "recordings are fetched from the object store's pre-signed URLs")
		return
	}
	key := r.PathValue("key")
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	sig, serr := base64.RawURLEncoding.DecodeString(q.Get("signature"))
	if err != nil || serr != nil || len(sig) == 0 {
		s.deps.Log.Warn("recording download refused", "reason", "unsigned", "remote", r.RemoteAddr, "path", r.URL.Path)
		writeError(w, http.StatusForbidden, CodeBadSignature, "a signed URL is required: get one from GET /api/v1/recordings/{call_id}")
		return
	}
	want, _ := base64.RawURLEncoding.DecodeString(s.sign(key, exp))
	if !hmac.Equal(sig, want) {
		s.deps.Log.Warn("recording download refused", "reason", "bad signature", "remote", r.RemoteAddr, "path", r.URL.Path)
		writeError(w, http.StatusForbidden, CodeBadSignature, "the URL's signature is not valid")
		return
	}
	if !s.deps.Now().Before(time.Unix(exp, 0)) {
		s.deps.Log.Info("recording download refused", "reason", "expired", "remote", r.RemoteAddr, "path", r.URL.Path)
		writeError(w, http.StatusForbidden, CodeExpired, "the URL has expired: get a new one from GET /api/v1/recordings/{call_id}")
		return
	}
	rc, err := m.Backend().Open(r.Context(), key)
	switch {
	case errors.Is(err, recording.ErrNotFound), errors.Is(err, recording.ErrBadKey):
		writeError(w, http.StatusNotFound, CodeNoRecording, "recording "+keyBase(key)+" is no longer stored")
		return
	case err != nil:
		s.storageError(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", keyBase(key)))
	w.Header().Set("Cache-Control", "private, no-store")
	if f, ok := rc.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			http.ServeContent(w, r, keyBase(key), st.ModTime(), f)
			return
		}
	}
	_, _ = io.Copy(w, rc)
}
