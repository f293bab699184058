package main

import (
	"os"
	"runtime/debug"
)

// generatorGC is the load generator's garbage-collector setting for a
// bench: with GOMAXPROCS 2, a mark phase takes one of the two Ps for all of
// its length, which under load was up to 580 ms (GODEBUG=gctrace=1 during
// the 1,500-call step), and the RTP pacers, left one P between them, fell
// 100 ms and more behind their schedule with the machine 72% busy: the
// figure measured the generator's collector, not Hotline. So, unless GOGC
// or GOMEMLIMIT is set, the generator collects only when its heap reaches
// a quarter of the machine's memory, between 1 and 4 GiB (its live heap is
// a few hundred MiB). ok is false when the environment decides.
func generatorGC(getenv func(string) string, memTotal int64) (limit int64, ok bool) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit = min(max(memTotal/4, 1<<30), 4<<30)
	return limit, true
}

// setGeneratorGC applies generatorGC to this process and returns the
// limit set (0: the environment's settings stand).
func setGeneratorGC() int64 {
	var mem int64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem, _ = parseStatusKB(data, "MemTotal")
	}
	limit, ok := generatorGC(os.Getenv, mem)
	if !ok {
		return 0
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(limit)
	return limit
}
