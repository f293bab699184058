//go:build race

package gcpace

// raceEnabled: the race detector's shadow memory takes a page fault of
// its own for each new page of heap written.
const raceEnabled = true
