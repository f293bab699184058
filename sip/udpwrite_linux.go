//go:build linux

package sip

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

// udpWriter sends SIP datagrams out of a duplicate of the listening UDP
// socket's descriptor with sendto(2), instead of through the
// net.UDPConn. Every goroutine writing to one net.UDPConn queues on its
// write lock (internal/poll's fdMutex), and under load each hand-over of
// that lock waits for the next writer to be scheduled: an execution trace
// at twice the sustainable call rate had 40% of all the time goroutines
// spent runnable-but-waiting in that queue, the door's 503s among them.
// The kernel takes concurrent sends on one UDP socket without a queue, and
// the duplicate is the same socket (same source address and port).
type udpWriter struct {
	mu sync.RWMutex
	fd int // -1 once closed
	af int // the socket's address family
}

// newUDPWriter duplicates c's descriptor; nil when it cannot.
func newUDPWriter(c *net.UDPConn) *udpWriter {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	w := &udpWriter{fd: -1}
	var derr error
	if err := raw.Control(func(fd uintptr) {
		if w.af, derr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN); derr != nil {
			return
		}
		syscall.ForkLock.RLock()
		if w.fd, derr = syscall.Dup(int(fd)); derr == nil {
			syscall.CloseOnExec(w.fd)
		}
		syscall.ForkLock.RUnlock()
	}); err != nil || derr != nil {
		return nil
	}
	return w
}

// write sends b to addr. done is false when the caller must send it the
// usual way (not a UDP address, the socket's buffer full, closed).
func (w *udpWriter) write(b []byte, addr net.Addr) (n int, done bool, err error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, false, nil
	}
	var sa syscall.Sockaddr
	if ip4 := ua.IP.To4(); ip4 != nil && w.af == syscall.AF_INET {
		sa4 := &syscall.SockaddrInet4{Port: ua.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else if w.af == syscall.AF_INET6 && len(ua.IP) > 0 {
		sa6 := &syscall.SockaddrInet6{Port: ua.Port}
		copy(sa6.Addr[:], ua.IP.To16())
		sa = sa6
	} else {
		return 0, false, nil
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.fd < 0 {
		return 0, false, nil
	}
	for {
		err = syscall.Sendto(w.fd, b, syscall.MSG_DONTWAIT, sa)
		switch {
		case err == nil:
			return len(b), true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.ENOBUFS):
			return 0, false, nil // let the net.UDPConn wait for room
		}
		return 0, true, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: os.NewSyscallError("sendto", err)}
	}
}

// close closes the duplicate (the listener itself is closed by its owner).
func (w *udpWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		_ = syscall.Close(w.fd)
		w.fd = -1
	}
}
