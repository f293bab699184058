package sip

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// call, leg, phone and server must be gone once the tests are over.
func TestMain(m *testing.M) {
	if IsDoorProcess() { // a Server of a test started it (sip.overload.door_process)
		os.Exit(RunDoorProcess())
	}
	goleak.VerifyTestMain(m,
		// sipgo v1.7.2 race, not ours to fix: a request read just before a
		// UserAgent closes is handled on its own goroutine; if that runs
		// after UserAgent.Close has emptied the connection pool, the
		// transaction layer opens a fresh UDP socket to answer it, and
		// nothing closes that one. It happens when a phone's ACK for a
		// 4xx/5xx meets Shutdown.
		goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransportUDP).readUDPConnection"),
	)
}
