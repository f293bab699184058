package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"text/template"
	"time"
)

// ErrCRM is wrapped by CRM lookup failures (status, body, timeout).
var ErrCRM = errors.New("routing: CRM lookup failed")

// crmVars are the fields a CRM URL template may use.
type crmVars struct {
	Number string // E.164, query-escaped (+ becomes %2B)
	Digits string // E.164 without the plus
}

func parseURLTemplate(s string) (*template.Template, error) {
	t, err := template.New("crm").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bad template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, crmVars{Number: "%2B84900000000", Digits: "84900000000"}); err != nil {
		return nil, fmt.Errorf("bad template: %w", err)
	}
	u, err := url.Parse(b.String())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", s)
	}
	if !strings.Contains(s, "{{") {
		return nil, fmt.Errorf("%q does not use {{.Number}} or {{.Digits}}", s)
	}
	return t, nil
}

type crmEntry struct {
	c       Customer
	found   bool
	expires time.Time
}

// crmSource looks customers up over HTTP, with a small TTL cache.
type crmSource struct {
	tmpl    *template.Template
	client  *http.Client
	timeout time.Duration
	ttl     time.Duration
	size    int
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]crmEntry
}

func newCRMSource(c CRMConfig, client *http.Client, now func() time.Time) (*crmSource, error) {
	t, err := parseURLTemplate(c.URL)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{}
	}
	return &crmSource{tmpl: t, client: client, timeout: c.Timeout, ttl: c.CacheTTL, size: c.CacheSize,
		now: now, cache: map[string]crmEntry{}}, nil
}

// lookup asks the CRM about a normalised number. 200 with a JSON customer
// is found, 404 is not found (both cached); anything else is an error and
// not cached. It never takes longer than the timeout.
func (s *crmSource) lookup(ctx context.Context, number string) (Customer, bool, error) {
	now := s.now()
	s.mu.Lock()
	if e, ok := s.cache[number]; ok && now.Before(e.expires) {
		s.mu.Unlock()
		return e.c, e.found, nil
	}
	s.mu.Unlock()

	c, found, err := s.fetch(ctx, number)
	if err != nil {
		return Customer{}, false, err
	}
	if s.ttl > 0 && s.size > 0 {
		s.mu.Lock()
		if len(s.cache) >= s.size {
			// Make room: drop expired entries, else an arbitrary one.
			for k, e := range s.cache {
				if !now.Before(e.expires) {
					delete(s.cache, k)
				}
			}
			for k := range s.cache {
				if len(s.cache) < s.size {
					break
				}
				delete(s.cache, k)
			}
		}
		s.cache[number] = crmEntry{c: c, found: found, expires: now.Add(s.ttl)}
		s.mu.Unlock()
	}
	return c, found, nil
}

func (s *crmSource) fetch(ctx context.Context, number string) (Customer, bool, error) {
	var u strings.Builder
	if err := s.tmpl.Execute(&u, crmVars{Number: url.QueryEscape(number), Digits: strings.TrimPrefix(number, "+")}); err != nil {
		return Customer{}, false, fmt.Errorf("%w: %w", ErrCRM, err)
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Customer{}, false, fmt.Errorf("%w: %w", ErrCRM, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		return Customer{}, false, fmt.Errorf("%w: %w", ErrCRM, err)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		return Unknown(number), false, nil
	default:
		return Customer{}, false, fmt.Errorf("%w: status %s", ErrCRM, res.Status)
	}
	var c Customer
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&c); err != nil {
		return Customer{}, false, fmt.Errorf("%w: bad JSON: %w", ErrCRM, err)
	}
	if c.Style != StyleProactive && c.Style != StyleReactive {
		c.Style = StyleUnknown
	}
	c.fill(number)
	return c, true, nil
}
