//go:build linux

package sip

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"hotline/internal/sockaddr"
)

// errRecvIdle: nothing arrived within recvPoll; the caller checks that
// its listener is still open and calls recv again.
var errRecvIdle = errors.New("sip: no datagram within the poll interval")

// recvPoll bounds one wait in poll(2), so that a listener closed without
// closing the duplicate is noticed.
const recvPoll = 50 // ms

// recv receives one SIP datagram with its control messages (the arrival
// stamp) from the duplicate descriptor. It waits for one in poll(2), a
// blocking system call whose thread the kernel wakes the moment a
// datagram arrives, instead of in Go's network poller: while every P
// runs goroutines (RTP, recording) the poller is consulted only when a P
// runs out of work or by the runtime's monitor every 10 ms or so, and a
// SIP reader parked there waited that long for each datagram before it
// was even made runnable (hotline_sip_socket_wait_seconds p99 50-250 ms
// under SIPp load while the reader goroutine was idle).
func (w *udpWriter) recv(p, oob []byte) (n, oobn int, from netip.AddrPort, err error) {
	for {
		w.mu.RLock()
		fd := w.fd
		if fd < 0 {
			w.mu.RUnlock()
			return 0, 0, from, net.ErrClosed
		}
		var sa syscall.Sockaddr
		n, oobn, _, sa, err = syscall.Recvmsg(fd, p, oob, syscall.MSG_DONTWAIT)
		w.mu.RUnlock()
		switch {
		case err == nil:
			return n, oobn, sockaddr.AddrPort(sa), nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EAGAIN):
			return 0, 0, from, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvmsg", err)}
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		ready, perr := unix.Poll(fds, recvPoll)
		switch {
		case perr != nil && !errors.Is(perr, unix.EINTR):
			return 0, 0, from, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("poll", perr)}
		case ready == 0:
			return 0, 0, from, errRecvIdle
		}
	}
}

// shutdown wakes a reader waiting in recv and closes the duplicate.
func (w *udpWriter) shutdown() {
	w.mu.RLock()
	if w.fd >= 0 {
		_ = syscall.Shutdown(w.fd, syscall.SHUT_RD) // the listener is closing anyway
	}
	w.mu.RUnlock()
	w.close()
}
