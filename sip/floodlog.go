package sip

import (
	"context"
	"log/slog"
	"time"

	"hotline/internal/lograte"
)

// A flood of bad or stray requests (a SIP scanner's: malformed requests,
// calls from addresses that are not trunks, calls to numbers that do not
// exist) is answered request by request, but logged at most floodBurst
// lines a floodPeriod for each kind, then one line saying how many more
// came (internal/lograte): the log keeps the lines that matter.
const (
	floodPeriod = 10 * time.Second
	floodBurst  = 20
)

// floodLogs are the Server's bounded lines, one Limiter a kind.
type floodLogs struct {
	refused, oversizedDatagram, oversizedRequest, notTrunk, unknownNumber *lograte.Limiter
}

func newFloodLogs(log *slog.Logger) floodLogs {
	l := func() *lograte.Limiter { return lograte.New(log, floodPeriod, floodBurst) }
	return floodLogs{refused: l(), oversizedDatagram: l(), oversizedRequest: l(), notTrunk: l(), unknownNumber: l()}
}

// stop writes what each holds (the Server is shutting down).
func (f floodLogs) stop() {
	for _, l := range []*lograte.Limiter{f.refused, f.oversizedDatagram, f.oversizedRequest, f.notTrunk, f.unknownNumber} {
		l.Stop()
	}
}

// info is Limiter.Log at info level.
func info(l *lograte.Limiter, msg string, args ...any) {
	l.Log(context.Background(), slog.LevelInfo, msg, args...)
}
