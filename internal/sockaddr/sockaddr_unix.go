//go:build unix

// Package sockaddr converts the source address of a datagram read with a
// raw system call (recvfrom) into a netip.AddrPort, as net.UDPConn gives
// it (the RTP legs' drain at close).
package sockaddr

import (
	"net/netip"
	"syscall"
)

// AddrPort is sa as net.UDPConn would give it: an IPv4-mapped IPv6
// address is kept as such (no zone: link-local peers are not expected);
// the zero AddrPort for any other kind of address.
func AddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}
