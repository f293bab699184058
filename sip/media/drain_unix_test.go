//go:build unix

package media

import (
	"net/netip"
	"syscall"
	"testing"
)

func TestSockaddrAddrPortAsUDPConnGivesIt(t *testing.T) {
	v4 := sockaddrAddrPort(&syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 5060})
	if v4 != netip.MustParseAddrPort("127.0.0.1:5060") {
		t.Errorf("IPv4: %v", v4)
	}
	mapped := sockaddrAddrPort(&syscall.SockaddrInet6{Addr: netip.MustParseAddr("::ffff:127.0.0.1").As16(), Port: 5060})
	if mapped != netip.MustParseAddrPort("[::ffff:127.0.0.1]:5060") {
		t.Errorf("IPv4-mapped on a dual-stack socket: %v, want it kept mapped as net.UDPConn does", mapped)
	}
}
