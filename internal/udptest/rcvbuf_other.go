//go:build !linux

package udptest

import "net"

// forceRcvbuf leaves c's receive buffer as it is (Linux only).
func forceRcvbuf(*net.UDPConn, int) {}
