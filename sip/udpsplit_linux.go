//go:build linux

package sip

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// The INVITE socket (sip.overload.invite_socket): a SIP UDP listener is
// two sockets bound to one address with SO_REUSEPORT, and a classic BPF
// program, which the kernel runs for each datagram to pick the socket of
// the group (SO_ATTACH_REUSEPORT_CBPF; it sees the UDP payload from
// offset 0), puts a datagram that starts "INVITE " in the first and any
// other in the second. Each has its reader (the door's), so the
// responses and in-dialog requests of admitted calls never wait behind
// a queue of new INVITEs, and a full INVITE socket makes the kernel drop
// new INVITEs only. A re-INVITE goes to the INVITE socket too: the door
// lets it through. Unprivileged: cBPF socket programs need no capability.

// splitProgram returns 0 (the INVITE socket, the group's first) for a
// payload of at least 7 bytes starting "INVITE ", else 1. A short
// datagram (a CRLF keep-alive) is tested for length first: a classic BPF
// load past the end would end the program with 0.
func splitProgram() []unix.SockFilter {
	const (
		ldLen  = unix.BPF_LD | unix.BPF_W | unix.BPF_LEN
		ldW    = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldH    = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		ldB    = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		jge    = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK   = unix.BPF_RET | unix.BPF_K
		invite = 0 // socket indexes in the group
		rest   = 1
	)
	return []unix.SockFilter{
		/* 0 */ {Code: ldLen},
		/* 1 */ {Code: jge, K: 7, Jt: 0, Jf: 7}, // to 9
		/* 2 */ {Code: ldW, K: 0},
		/* 3 */ {Code: jeq, K: 'I'<<24 | 'N'<<16 | 'V'<<8 | 'I', Jt: 0, Jf: 5},
		/* 4 */ {Code: ldH, K: 4},
		/* 5 */ {Code: jeq, K: 'T'<<8 | 'E', Jt: 0, Jf: 3},
		/* 6 */ {Code: ldB, K: 6},
		/* 7 */ {Code: jeq, K: ' ', Jt: 0, Jf: 1},
		/* 8 */ {Code: retK, K: invite},
		/* 9 */ {Code: retK, K: rest},
	}
}

// setReusePort sets SO_REUSEPORT on c (on: 1) or clears it (0).
func setReusePort(c syscall.RawConn, on int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, on)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", serr)
	}
	return nil
}

// splitInvites binds the socket for everything but INVITEs beside
// invites and steers the datagrams between them. invites was bound
// without SO_REUSEPORT, so its port was free (a port 0 bound with it may
// be one another socket of the same user shares, and a second Hotline
// on a taken port would join the first's sockets instead of failing);
// it is set afterwards, which lets the second socket join. On an error
// invites is left as it was: the one socket.
func splitInvites(invites *net.UDPConn) (*net.UDPConn, error) {
	raw, err := invites.SyscallConn()
	if err != nil {
		return nil, err
	}
	if err := setReusePort(raw, 1); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return setReusePort(c, 1) }}
	pc, err := lc.ListenPacket(context.Background(), "udp", invites.LocalAddr().String())
	if err != nil {
		_ = setReusePort(raw, 0)
		return nil, err
	}
	rest, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("not a UDP socket: %T", pc)
	}
	prog := splitProgram()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
	}); err != nil {
		serr = err
	}
	if serr != nil {
		_ = rest.Close()
		_ = setReusePort(raw, 0)
		return nil, fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return rest, nil
}
