// Package sippstat reads the files SIPp 3.6 writes about a run: the
// statistics of -trace_stat (-stf) and the per-call response times of
// -trace_rtt. The end-to-end tests (internal/e2e) and the benchmark
// (cmd/hotline-load) both read them.
package sippstat

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrStats is returned when a statistics file cannot be parsed.
var ErrStats = errors.New("cannot read SIPp statistics")

// Stats are the cumulative counters of the last row of a -trace_stat file.
type Stats struct {
	Created, Successful, Failed int
	// A few failure causes.
	FailedUnexpected, FailedTimeoutOnRecv, FailedMaxUDPRetrans, FailedCallRejected int
	Retransmissions                                                                int
	// Current is the number of calls in progress when the row was written.
	Current int
	// Raw holds every column of the last row, by header name (e.g.
	// "SuccessfulCall(C)", "FailedOutboundCongestion(C)").
	Raw map[string]string
}

// ParseFile reads the last row of the -trace_stat file at path.
func ParseFile(path string) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrStats, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	var header, last []string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Stats{}, fmt.Errorf("%w: %w", ErrStats, err)
		}
		if header == nil {
			header = rec
			continue
		}
		last = rec
	}
	if header == nil || last == nil {
		return Stats{}, fmt.Errorf("%w: %s has no data row", ErrStats, path)
	}
	s := Stats{Raw: make(map[string]string, len(header))}
	for i, h := range header {
		if h != "" && i < len(last) {
			s.Raw[h] = last[i]
		}
	}
	num := func(k string) int {
		n, _ := strconv.Atoi(s.Raw[k])
		return n
	}
	s.Created = num("TotalCallCreated")
	s.Successful = num("SuccessfulCall(C)")
	s.Failed = num("FailedCall(C)")
	s.FailedUnexpected = num("FailedUnexpectedMessage(C)")
	s.FailedTimeoutOnRecv = num("FailedTimeoutOnRecv(C)")
	s.FailedMaxUDPRetrans = num("FailedMaxUDPRetrans(C)")
	s.FailedCallRejected = num("FailedCallRejected(C)")
	s.Retransmissions = num("Retransmissions(C)")
	s.Current = num("CurrentCall")
	if _, ok := s.Raw["SuccessfulCall(C)"]; !ok {
		return s, fmt.Errorf("%w: no SuccessfulCall(C) column", ErrStats)
	}
	return s, nil
}

// RTT is one row of a -trace_rtt file.
type RTT struct {
	// Sent is when the request was sent, from SIPp's start: the row's
	// date (when the response came) less the response time.
	Sent time.Duration
	// Took is the response time.
	Took time.Duration
	// No is the response-time number (the rtd="N" of the scenario).
	No int
}

// ParseRTT reads a -trace_rtt file (-rtt_freq 1: one row per measured
// response time, "Date_ms;response_time_ms;rtd_no") and returns the times
// by response-time number (the rtd="N" of the scenario). A missing file
// is no response time at all.
func ParseRTT(path string) (map[int][]time.Duration, error) {
	rows, err := ParseRTTRows(path)
	if err != nil {
		return nil, err
	}
	return ByNumber(rows), nil
}

// ByNumber groups rows' response times by response-time number.
func ByNumber(rows []RTT) map[int][]time.Duration {
	out := map[int][]time.Duration{}
	for _, r := range rows {
		out[r.No] = append(out[r.No], r.Took)
	}
	return out
}

// ParseRTTRows reads a -trace_rtt file's rows, in order, with when each
// request was sent. A missing file is no row.
func ParseRTTRows(path string) ([]RTT, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []RTT
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if i == 0 || line == "" || strings.HasPrefix(line, "Date") {
			continue
		}
		f := strings.Split(line, ";")
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: %q is not Date_ms;response_time_ms;rtd_no", path, i+1, line)
		}
		at, err0 := strconv.ParseFloat(f[0], 64)
		msv, err1 := strconv.ParseFloat(f[1], 64)
		rtd, err2 := strconv.Atoi(f[2])
		if err0 != nil || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: %q is not Date_ms;response_time_ms;rtd_no", path, i+1, line)
		}
		ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
		out = append(out, RTT{Sent: ms(at - msv), Took: ms(msv), No: rtd})
	}
	return out, nil
}
