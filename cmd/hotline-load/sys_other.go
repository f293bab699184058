//go:build !linux

package main

import "os/exec"

// The load generator measures on Linux (/proc, SO_TIMESTAMPNS, parent-death
// signals); elsewhere it builds (and vets) with these fallbacks.

// killGroupOnCancel: cancellation kills cmd only (no process groups).
func killGroupOnCancel(*exec.Cmd) {}

// dieWithParent: no parent-death signal.
func dieWithParent(*exec.Cmd) {}

// rxTimestamps: no kernel receive stamps; send-side time is used.
func rxTimestamps(uintptr) bool { return false }

// kernelRxTime: no kernel receive stamps.
func kernelRxTime([]byte) (int64, bool) { return 0, false }
