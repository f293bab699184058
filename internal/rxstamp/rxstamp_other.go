//go:build !linux || !(amd64 || arm64)

package rxstamp

import (
	"net"
	"time"
)

// Space is the control buffer one stamp would need (unused here).
const Space = 32

// Enable: arrival stamps are read on 64-bit Linux only.
func Enable(*net.UDPConn) bool { return false }

// Time: no stamps here.
func Time([]byte) time.Time { return time.Time{} }
