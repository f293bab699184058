package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"hotline/audio"
	"hotline/metrics"
)

// snapshot is one look at the Hotline process.
type snapshot struct {
	At       time.Time
	Warmup   bool
	InFlight int // calls the driver has in progress

	Goroutines  int   // go_goroutines of the metrics endpoint
	FDs         int   // entries of /proc/<pid>/fd
	RTPSockets  int   // Hotline's UDP sockets bound in its RTP range (/proc/<pid>/net/udp)
	RTPLegs     int   // hotline_rtp_legs
	Calls       int   // calls in progress, API /api/v1/calls
	CallsMetric int   // hotline_calls_active
	Waiting     int   // hotline_queue_callers_waiting
	Recording   int   // hotline_recordings_in_progress
	RSS         int64 // VmRSS of /proc/<pid>/status
	HeapInuse   int64 // go_memstats_heap_inuse_bytes
	Cores       float64
	// AgentsAvailable is set at the baseline and the end only.
	AgentsAvailable int
	Err             string // what could not be read
}

// probe takes a snapshot. The HTTP requests come first and do not keep
// their connections, so that the descriptors counted after them are
// Hotline's own.
func (d *soakDriver) probe(ctx context.Context) snapshot {
	h := d.h
	s := snapshot{At: time.Now()}
	var errs []string
	if n, err := h.activeCalls(ctx); err != nil {
		errs = append(errs, "calls: "+err.Error())
	} else {
		s.Calls = n
	}
	if m, err := h.scrape(ctx); err != nil {
		errs = append(errs, "metrics: "+err.Error())
	} else {
		s.Goroutines = int(m["go_goroutines"])
		s.RTPLegs = int(m["hotline_rtp_legs"])
		s.CallsMetric = int(m["hotline_calls_active"])
		s.Waiting = int(m["hotline_queue_callers_waiting"])
		s.Recording = int(m["hotline_recordings_in_progress"])
		s.HeapInuse = int64(m["go_memstats_heap_inuse_bytes"])
		if _, ok := m["go_goroutines"]; !ok {
			errs = append(errs, "metrics: no go_goroutines")
		}
	}
	time.Sleep(50 * time.Millisecond) // Hotline closes its side of those connections
	pid := h.PID()
	if n, err := countFDs(pid); err != nil {
		errs = append(errs, "fds: "+err.Error())
	} else {
		s.FDs = n
	}
	if n, err := rtpSockets(pid, h.opts.RTPMin, h.opts.RTPMax); err != nil {
		errs = append(errs, "sockets: "+err.Error())
	} else {
		s.RTPSockets = n
	}
	if rss, err := ProcRSS(pid); err != nil {
		errs = append(errs, "rss: "+err.Error())
	} else {
		s.RSS = rss
	}
	s.Err = strings.Join(errs, "; ")
	return s
}

// medianSnapshot keeps the median of each figure of several snapshots.
func medianSnapshot(ss []snapshot) snapshot {
	if len(ss) == 0 {
		return snapshot{}
	}
	out := ss[len(ss)-1]
	medInt := func(get func(snapshot) int) int {
		v := make([]int, len(ss))
		for i, s := range ss {
			v[i] = get(s)
		}
		sort.Ints(v)
		return v[len(v)/2]
	}
	med64 := func(get func(snapshot) int64) int64 {
		v := make([]int64, len(ss))
		for i, s := range ss {
			v[i] = get(s)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	out.Goroutines = medInt(func(s snapshot) int { return s.Goroutines })
	out.FDs = medInt(func(s snapshot) int { return s.FDs })
	out.RTPSockets = medInt(func(s snapshot) int { return s.RTPSockets })
	out.RTPLegs = medInt(func(s snapshot) int { return s.RTPLegs })
	out.Calls = medInt(func(s snapshot) int { return s.Calls })
	out.CallsMetric = medInt(func(s snapshot) int { return s.CallsMetric })
	out.RSS = med64(func(s snapshot) int64 { return s.RSS })
	out.HeapInuse = med64(func(s snapshot) int64 { return s.HeapInuse })
	for _, s := range ss {
		if s.Err != "" {
			out.Err = s.Err
		}
	}
	return out
}

// scrape reads Hotline's metrics endpoint: the sum of each family's
// samples; with names, of those families only (name[]).
func (h *hotlineProc) scrape(ctx context.Context, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL(h.metrics, names), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", h.metrics, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	return parsePromText(data), nil
}

// parsePromText sums the samples of each metric name of the Prometheus
// text format (labels ignored; histogram series keep their suffixes).
func parsePromText(data []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				continue
			}
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}

// agentAction posts an agent action (pause, unpause) to Hotline's API.
func (h *hotlineProc) agentAction(ctx context.Context, agent, action string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.api+"/api/v1/agents/"+agent+"/"+action, nil)
	if err != nil {
		return err
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s %s: %s %s", agent, action, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// noKeepAlive is an HTTP client that closes each connection after its
// request, so that Hotline's descriptor count does not depend on the
// driver's idle connections.
func noKeepAlive() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// countFDs counts a process's open file descriptors.
func countFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// socketInodes returns the inodes of a process's sockets.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out[n] = true
			}
		}
	}
	return out, nil
}

// udpSock is one line of /proc/net/udp.
type udpSock struct {
	Port  int
	Inode uint64
	Drops uint64 // datagrams the kernel dropped at this socket (full receive buffer...)
}

// parseProcNetUDP reads /proc/<pid>/net/udp (or udp6).
func parseProcNetUDP(data []byte) ([]udpSock, error) {
	var out []udpSock
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		_, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("%w: local address %q", ErrProcFormat, f[1])
		}
		port, err1 := strconv.ParseUint(portHex, 16, 16)
		inode, err2 := strconv.ParseUint(f[9], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: udp line %q", ErrProcFormat, sc.Text())
		}
		var drops uint64
		if len(f) > 12 {
			drops, _ = strconv.ParseUint(f[12], 10, 64)
		}
		out = append(out, udpSock{Port: int(port), Inode: inode, Drops: drops})
	}
	return out, nil
}

// procUDPSockets lists the UDP sockets (IPv4 and IPv6) pid holds open.
func procUDPSockets(pid int) ([]udpSock, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var out []udpSock
	for _, f := range []string{"udp", "udp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		socks, err := parseProcNetUDP(data)
		if err != nil {
			return nil, err
		}
		for _, s := range socks {
			if inodes[s.Inode] {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// udpDrops sums the datagrams dropped at the UDP sockets pid has open
// (the drops column of /proc/net/udp): unlike Udp RcvbufErrors of
// /proc/net/snmp, only this process's sockets count. A socket closed
// takes its count with it.
func udpDrops(pid int) (uint64, error) {
	socks, err := procUDPSockets(pid)
	var n uint64
	for _, s := range socks {
		n += s.Drops
	}
	return n, err
}

// rtpSockets counts the UDP sockets pid has bound to ports lo..hi.
func rtpSockets(pid, lo, hi int) (int, error) {
	socks, err := procUDPSockets(pid)
	n := 0
	for _, s := range socks {
		if s.Port >= lo && s.Port <= hi {
			n++
		}
	}
	return n, err
}

// recInfo is what the store holds for one call.
type recInfo struct {
	Count    int // recordings (call records) stored for the call
	Complete bool
	WavBytes int64
}

// recStore checks the recordings Hotline stored (file backend): each
// call record (JSON) names its call and sits beside its WAV.
type recStore struct {
	dir string

	mu       sync.Mutex
	seen     map[string]*recInfo
	problems []string // a call record or WAV missing, unreadable or empty
	records  int
	dropped  uint64 // packets the recorders dropped
}

func newRecStore(dir string) *recStore {
	return &recStore{dir: dir, seen: map[string]*recInfo{}}
}

// wavAudioBytes returns the size of the file at path and of the samples
// it holds after its headers (Hotline's recordings carry their call
// record in a chunk before the samples: the headers are 4 KiB, not 44
// bytes). A file that is not a WAV is an error.
func wavAudioBytes(path string) (size, samples int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	h, err := audio.ReadWAVHeader(f, st.Size())
	if err != nil {
		return st.Size(), 0, err
	}
	return st.Size(), max(st.Size()-h.DataOffset, 0), nil
}

// scan reads the call records stored at least minAge ago (with their
// WAVs) and, if remove, deletes both. With minAge 0 (Hotline idle) a WAV
// without a call record is a problem too.
func (s *recStore) scan(minAge time.Duration, remove bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var wavs []string
	_ = filepath.WalkDir(s.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		if strings.HasSuffix(p, ".wav") {
			wavs = append(wavs, p)
			return nil
		}
		if !strings.HasSuffix(p, ".json") {
			return nil
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < minAge {
			return nil
		}
		s.readOne(p)
		if remove {
			_ = os.Remove(strings.TrimSuffix(p, ".json") + ".wav")
			_ = os.Remove(p)
		}
		return nil
	})
	if minAge > 0 {
		return
	}
	for _, w := range wavs {
		if _, err := os.Stat(w); err == nil {
			if _, err := os.Stat(strings.TrimSuffix(w, ".wav") + ".json"); errors.Is(err, fs.ErrNotExist) {
				s.problems = append(s.problems, fmt.Sprintf("%s: WAV without a call record", filepath.Base(w)))
			}
		}
	}
}

func (s *recStore) readOne(p string) {
	data, err := os.ReadFile(p)
	if err != nil {
		s.problems = append(s.problems, fmt.Sprintf("%s: %v", filepath.Base(p), err))
		return
	}
	var cr struct {
		CallID string    `json:"call_id"`
		End    time.Time `json:"end"`
		Stats  *struct {
			Dropped uint64 `json:"dropped"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(data, &cr); err != nil || cr.CallID == "" {
		s.problems = append(s.problems, fmt.Sprintf("%s: unreadable call record (%v)", filepath.Base(p), err))
		return
	}
	s.records++
	if cr.Stats != nil {
		s.dropped += cr.Stats.Dropped
	}
	ri := s.seen[cr.CallID]
	if ri == nil {
		ri = &recInfo{}
		s.seen[cr.CallID] = ri
	}
	ri.Count++
	ri.Complete = !cr.End.IsZero()
	size, samples, err := wavAudioBytes(strings.TrimSuffix(p, ".json") + ".wav")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.problems = append(s.problems, fmt.Sprintf("%s: call record without its WAV", cr.CallID))
	case err != nil:
		s.problems = append(s.problems, fmt.Sprintf("%s: WAV unreadable: %v", cr.CallID, err))
	case samples == 0:
		s.problems = append(s.problems, fmt.Sprintf("%s: WAV without audio (%d bytes)", cr.CallID, size))
	default:
		ri.WavBytes += size
	}
	if !ri.Complete {
		s.problems = append(s.problems, fmt.Sprintf("%s: call record without an end", cr.CallID))
	}
}

// cdr is Hotline's call record, from its "call ended" log line.
type cdr struct {
	Outcome, Cause, Agent string
}

// logSummary is what Hotline's log (JSON lines) says.
type logSummary struct {
	Lines    int
	CDRs     map[string][]cdr // by call_id
	Levels   map[string]int
	Messages map[string]int // "LEVEL msg" for WARN and ERROR
	Panics   []string       // lines of Go panics and fatal errors
	Other    int            // lines that are not JSON
}

// parseHotlineLog reads Hotline's JSON log.
func parseHotlineLog(r io.Reader) (logSummary, error) {
	ls := logSummary{CDRs: map[string][]cdr{}, Levels: map[string]int{}, Messages: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 256<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		ls.Lines++
		if len(line) == 0 || line[0] != '{' {
			ls.Other++
			if t := string(line); strings.HasPrefix(t, "panic:") || strings.HasPrefix(t, "fatal error:") ||
				strings.HasPrefix(t, "goroutine ") && strings.Contains(t, "[running]") {
				ls.Panics = append(ls.Panics, t)
			}
			continue
		}
		var l struct {
			Level   string `json:"level"`
			Msg     string `json:"msg"`
			CallID  string `json:"call_id"`
			Outcome string `json:"outcome"`
			Cause   string `json:"cause"`
			Agent   string `json:"agent"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			ls.Other++
			continue
		}
		ls.Levels[l.Level]++
		if l.Level == "WARN" || l.Level == "ERROR" {
			ls.Messages[l.Level+" "+l.Msg]++
		}
		if l.Msg == "call ended" && l.CallID != "" {
			ls.CDRs[l.CallID] = append(ls.CDRs[l.CallID], cdr{Outcome: l.Outcome, Cause: l.Cause, Agent: l.Agent})
		}
	}
	return ls, sc.Err()
}

// refusedByReason reads hotline_calls_refused_total by its reason label
// (nil when the metrics cannot be read).
func (h *hotlineProc) refusedByReason(ctx context.Context) map[string]float64 {
	data, ok := h.metricsText(ctx)
	if !ok {
		return nil
	}
	return parseLabelled(data, metrics.NameCallsRefused, "reason")
}

// mediaCounts are two of Hotline's media counters at one reading; ok is
// false when its metrics could not be read.
type mediaCounts struct {
	ringFull, recDropped float64
	ok                   bool
}

// mediaCounts reads the packets Hotline's kernel relay relayed without
// the recorders' copy, its ring full (0 without the kernel relay), and
// those its recorders dropped (those among them), from the two families
// only.
func (h *hotlineProc) mediaCounts(ctx context.Context) mediaCounts {
	data, ok := h.metricsText(ctx, metrics.NameRTPKernel, metrics.NameRecordingDropped)
	if !ok {
		return mediaCounts{}
	}
	return mediaCounts{ok: true, ringFull: sampleWhere(data, metrics.NameRTPKernel, `result="ring_full"`),
		recDropped: sampleWhere(data, metrics.NameRecordingDropped, "")}
}

// sub returns the counts from earlier (a reading before m) to m; 0 when
// either reading failed.
func (m mediaCounts) sub(earlier mediaCounts) (ringFull, recDropped uint64) {
	if !m.ok || !earlier.ok {
		return 0, 0
	}
	return uint64(max(m.ringFull-earlier.ringFull, 0)), uint64(max(m.recDropped-earlier.recDropped, 0))
}

// sampleWhere is the value of name's series whose labels are exactly
// labels (`a="b"`; "" for a series without labels) in a Prometheus text
// exposition, 0 when there is none.
func sampleWhere(text, name, labels string) float64 {
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return 0
}

// reasonDelta formats the refusals per reason between two readings of
// refusedByReason ("" when none).
func reasonDelta(before, after map[string]float64) string {
	var parts []string
	for reason, v := range after {
		if d := v - before[reason]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s=%g", reason, d))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// lateRefusals counts the refusals between two readings that
// hotline_calls_refused_seconds did not time: the INVITE handler's,
// after the door let the call through, and a door's without an arrival
// stamp (none on this benchmark's Linux) (0 when either reading failed).
func lateRefusals(before, after stepMetrics) int {
	if before.reasons == nil || after.reasons == nil {
		return 0
	}
	var n float64
	for reason, v := range after.reasons {
		n += v - before.reasons[reason]
	}
	inf := math.Inf(1)
	n -= after.refusal[inf] - before.refusal[inf]
	return max(int(math.Round(n)), 0)
}

// metricsURL is the metrics endpoint u asking for the families names
// only (promhttp's name[]: every family is still collected, but only
// those encoded), or for all without names. The benchmark polls Hotline
// every 100 ms while it sheds, and reads it at every step's start and
// end: with 2,600 agents a whole scrape costs Hotline about 60 ms of CPU
// and 21 MB of garbage (metrics.BenchmarkScrapeAgents2600), one family
// about half that.
func metricsURL(u string, names []string) string {
	if len(names) == 0 {
		return u
	}
	q := url.Values{"name[]": names}
	return u + "?" + q.Encode()
}

// waitNotShedding waits until Hotline's overload control no longer
// refuses new calls (hotline_overload_shedding 0) and holds them to no
// rate learned from the overload (hotline_overload_learned_calls_per_second
// 0: forgotten after five holds refusing nothing), at most bound.
func (h *hotlineProc) waitNotShedding(ctx context.Context, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m, err := h.scrape(ctx, metrics.NameOverloadShedding, metrics.NameOverloadLearnedCPS)
		if err != nil || m[metrics.NameOverloadShedding] == 0 && m[metrics.NameOverloadLearnedCPS] == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stepMetrics is what a SIPp step reads of Hotline's metrics at its start
// and end, from one scrape: refusals by reason and three histograms'
// cumulative buckets (nil maps when the metrics cannot be read).
type stepMetrics struct {
	reasons                   map[string]float64
	refusal, answer, sockWait map[float64]float64
	// the SIP sockets' waits apart (hotline_sip_socket_wait_seconds'
	// socket label): new INVITEs' own socket, the other one
	inviteWait, otherWait map[float64]float64
}

func (h *hotlineProc) stepMetrics(ctx context.Context) stepMetrics {
	data, ok := h.metricsText(ctx, metrics.NameCallsRefused, metrics.NameRefusalTime, metrics.NameAnswerDelay, metrics.NameSIPSocketWait)
	if !ok {
		return stepMetrics{}
	}
	return stepMetrics{reasons: parseLabelled(data, metrics.NameCallsRefused, "reason"), refusal: parseBuckets(data, metrics.NameRefusalTime),
		answer: parseBuckets(data, metrics.NameAnswerDelay), sockWait: parseBuckets(data, metrics.NameSIPSocketWait),
		inviteWait: parseBucketsWhere(data, metrics.NameSIPSocketWait, "socket", metrics.SocketInvites),
		otherWait:  parseBucketsWhere(data, metrics.NameSIPSocketWait, "socket", metrics.SocketOthers)}
}

// metricsText reads Hotline's /metrics (false when it cannot); with
// names, those families only (name[]).
func (h *hotlineProc) metricsText(ctx context.Context, names ...string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL(h.metrics, names), nil)
	if err != nil {
		return "", false
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", false
	}
	return string(data), true
}

// parseBuckets reads name's _bucket lines of a Prometheus text exposition.
func parseBuckets(text, name string) map[float64]float64 {
	return parseBucketsWhere(text, name, "", "")
}

// parseBucketsWhere is parseBuckets over the series whose label has
// value (every series, summed, when label is empty).
func parseBucketsWhere(text, name, label, value string) map[float64]float64 {
	out := map[float64]float64{}
	prefix := name + "_bucket{"
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		le := ""
		match := label == ""
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch {
			case k == "le":
				le = v
			case k == label && v == value:
				match = true
			}
		}
		if !match {
			continue
		}
		bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		if err != nil {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[bound] += v
		}
	}
	return out
}

// bucketQuantile is the q-quantile of the observations between two
// readings of a histogram's cumulative buckets, as the upper bound of the
// bucket it falls in (the largest finite bound when it is past them); 0
// when there were none.
func bucketQuantile(before, after map[float64]float64, q float64) time.Duration {
	bounds := make([]float64, 0, len(after))
	for b := range after {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	if total <= 0 {
		return 0
	}
	last := 0.0
	for _, b := range bounds {
		if !math.IsInf(b, 1) {
			last = b
		}
		if after[b]-before[b] >= q*total {
			return time.Duration(last * float64(time.Second))
		}
	}
	return time.Duration(last * float64(time.Second))
}
