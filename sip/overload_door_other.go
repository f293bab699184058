//go:build !(linux && (amd64 || arm64))

package sip

import (
	"net"
	"time"
)

// rxTimestamps: arrival stamps are read on 64-bit Linux only; elsewhere
// the door does not judge how long an INVITE waited.
func rxTimestamps(*net.UDPConn) bool { return false }

func rxTime([]byte) time.Time { return time.Time{} }

func headWait(*net.UDPConn, time.Time, []byte) (time.Duration, bool) { return 0, false }
