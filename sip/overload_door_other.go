//go:build !(linux && (amd64 || arm64))

package sip

import (
	"net"
	"time"
)

// headWait: arrival stamps are read on 64-bit Linux only (rxstamp);
// elsewhere the door does not judge how long an INVITE waited.
func headWait(*net.UDPConn, time.Time, []byte) (time.Duration, bool) { return 0, false }

func headWaitFD(int, time.Time, []byte) (time.Duration, bool) { return 0, false }
