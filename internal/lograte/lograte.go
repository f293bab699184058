// Package lograte keeps a flood of like log lines from flooding the log:
// a SIP scanner's malformed requests, or its calls to numbers that do not
// exist, each of which would otherwise write a line. The first lines of a
// period are written as they come; past them, lines are counted, and one
// line at the period's end says how many there were, with the last one's
// attributes. A log that journald or a disk also bounds then keeps the
// service's other lines (an overload warning among them) instead of being
// filled, or rate-limited, by the flood.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter bounds one kind of log line (one message: its summary counts
// every held line under the last one's message). Safe for concurrent use.
type Limiter struct {
	log    *slog.Logger
	period time.Duration
	burst  int

	mu      sync.Mutex
	start   time.Time // the current period's start
	n       int       // lines written in it
	held    int       // lines counted, not written, since the last summary
	level   slog.Level
	msg     string
	last    []any // the last held line's attributes
	timer   *time.Timer
	stopped bool
}

// New returns a Limiter writing to log at most burst lines of its kind a
// period, then the summary at the period's end.
func New(log *slog.Logger, period time.Duration, burst int) *Limiter {
	return &Limiter{log: log, period: period, burst: max(burst, 1)}
}

// Log writes a line (as slog.Logger.Log), or counts it when the period's
// burst is spent.
func (l *Limiter) Log(ctx context.Context, level slog.Level, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.start) >= l.period {
		l.start, l.n = now, 0
	}
	if l.n < l.burst || l.stopped {
		l.n++
		l.mu.Unlock()
		l.log.Log(ctx, level, msg, args...)
		return
	}
	l.held++
	l.level, l.msg = level, msg
	l.last = append(l.last[:0], args...)
	if l.timer == nil {
		l.timer = time.AfterFunc(l.start.Add(l.period).Sub(now), l.Flush)
	}
	l.mu.Unlock()
}

// Flush writes the summary of the lines held since the last one, if any.
// The timer calls it at the period's end; Stop calls it at shutdown.
func (l *Limiter) Flush() {
	l.mu.Lock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	held, level, msg, last := l.held, l.level, l.msg, l.last
	l.held, l.last = 0, nil
	l.mu.Unlock()
	if held == 0 {
		return
	}
	l.log.Log(context.Background(), level, msg+" (more like it, not logged one by one)",
		"not_logged", held, "within", l.period, slog.Group("last", last...))
}

// Stop writes what is held and lets every later line through (the
// process is ending: no timer would write them).
func (l *Limiter) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.Flush()
}
