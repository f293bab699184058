//go:build !race

package gcpace

const raceEnabled = false
