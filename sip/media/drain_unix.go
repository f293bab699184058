//go:build unix

package media

import (
	"errors"
	"net/netip"
	"syscall"
	"time"
)

// maxDrain bounds the datagrams drainRTP reads: more RTP packets than a
// socket's default receive buffer holds.
const maxDrain = 1000

// drainRTP hands the tap what the leg's RTP socket still holds as the leg
// ends: the datagrams are accepted as if a reader had taken them (counted,
// with their audio given to the tap), not relayed. A reader that fell
// behind (every core busy, the shared readers waiting for one) so loses
// none of a call's last audio from its recording: the hang-up is
// signalling, which overtakes the media still queued. It reads without
// waiting and stops at the first empty read; without a tap it does
// nothing (the socket's close discards the datagrams).
func (l *Leg) drainRTP() {
	t := l.tap.Load()
	if l.conn == nil || t == nil {
		return
	}
	rc, err := l.conn.SyscallConn()
	if err != nil {
		return
	}
	var acc []rxPacket
	_ = rc.Control(func(fd uintptr) {
		var b [1600]byte // as the readers': a datagram this long may have been truncated
		for range maxDrain {
			n, from, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_DONTWAIT)
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.ECONNREFUSED):
				l.dropped.Add(1) // an earlier send's ICMP error, counted as the readers do
				continue
			case err != nil:
				return // EAGAIN: nothing left
			case n >= len(b): // truncated: not a sane RTP packet
				l.dropped.Add(1)
				continue
			}
			var a rxPacket
			if p := append([]byte(nil), b[:n]...); l.accept(p, sockaddrAddrPort(from), &a) {
				acc = append(acc, a)
			}
		}
	})
	t.give(len(acc), 0, func(i int) ([]byte, time.Time) { return acc[i].p, l.arrival(&acc[i]) }, nil)
}

// sockaddrAddrPort is a drained datagram's source as net.UDPConn would
// give it: an IPv4-mapped IPv6 address is kept as such (no zone:
// link-local peers are not expected); the zero AddrPort for any other
// kind of address.
func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}
