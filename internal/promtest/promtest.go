// Package promtest runs a real Prometheus for end-to-end tests and reads
// the repository's Grafana dashboards and Prometheus rules (deploy/), so
// that tests can evaluate every panel expression and recording rule
// against what Hotline exports.
//
// It needs the prometheus and promtool binaries (Debian package
// prometheus). When they are missing it fails the test, naming
// `make test`, which installs them: it never skips.
package promtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"hotline/internal/proctest"
)

// ErrQuery is returned (wrapped) when Prometheus answers a query with an
// error or with something other than an instant vector.
var ErrQuery = errors.New("promtest: query failed")

// Promtool returns the path of promtool, failing the test when it is not
// installed.
func Promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (Debian package prometheus): `make test` installs it")
	}
	return p
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// Vector is an instant vector from /api/v1/query.
type Vector []Sample

// Value returns the value of the i-th sample (NaN if it is not a number).
func (v Vector) Value(i int) float64 {
	s, _ := v[i].Value[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// ByLabel maps the value of label in each sample to the sample's value.
func (v Vector) ByLabel(label string) map[string]float64 {
	out := make(map[string]float64, len(v))
	for i := range v {
		out[v[i].Metric[label]] = v.Value(i)
	}
	return out
}

// HasNumber reports whether at least one sample is a number (not NaN or
// infinite), i.e. whether a panel would show something.
func (v Vector) HasNumber() bool {
	for i := range v {
		if f := v.Value(i); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return true
		}
	}
	return false
}

// SortedKeys returns the keys of m in order (for messages and comparing
// label sets).
func SortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Client queries a Prometheus over its HTTP API.
type Client struct {
	// Base is the server's URL, e.g. http://127.0.0.1:9090.
	Base string
	hc   *http.Client
}

// Get calls an API path (e.g. /api/v1/query_exemplars) and decodes the
// data field of a successful answer into out.
func (c *Client) Get(path string, params url.Values, out any) error {
	res, err := c.hc.Get(c.Base + path + "?" + params.Encode())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer res.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %d: %w", path, res.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%w: %s: %s", ErrQuery, path, body.Error)
	}
	return json.Unmarshal(body.Data, out)
}

// Query evaluates expr now as an instant query.
func (c *Client) Query(expr string) (Vector, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     Vector `json:"result"`
	}
	if err := c.Get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%w: result type %s", ErrQuery, data.ResultType)
	}
	return data.Result, nil
}

// WaitFor polls expr until cond holds on its result, failing the test
// when the deadline passes first.
func (c *Client) WaitFor(t testing.TB, expr string, deadline time.Time, cond func(Vector) bool) Vector {
	t.Helper()
	var last Vector
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = c.Query(expr)
		if lastErr == nil && cond(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: last %v %v", expr, last, lastErr)
	return nil
}

// Start runs a real Prometheus on a free 127.0.0.1 port, in a temporary
// directory, scraping each target (host:port, path /metrics) every second
// and evaluating the repository's rules (deploy/prometheus/rules/
// hotline.rules.yml) every second. It returns once Prometheus is ready and
// kills it (by PID) at cleanup, logging its output if the test failed.
func Start(t testing.TB, targets ...string) *Client {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found (Debian package prometheus): `make test` installs it")
	}
	rulesFile := RulesFile(t)
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: hotline
    static_configs:
      - targets: [%s]
`, rulesFile, strings.Join(quoted, ", "))
	confFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", proctest.FreeTCPPort(t))
	cmd := exec.Command(bin,
		"--config.file="+confFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--enable-feature=exemplar-storage",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("prometheus log:\n%s", b)
			}
		}
	})
	c := &Client{Base: "http://" + addr, hc: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := c.hc.Get(c.Base + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready at %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
