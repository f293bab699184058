//go:build linux && (amd64 || arm64)

package sip

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
)

// rxTimestamps asks the kernel to stamp every datagram c receives with
// its arrival time (SO_TIMESTAMPNS), so that the door can tell how long
// a new INVITE waited in the socket. It reports whether it could.
func rxTimestamps(c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// rxTime returns the kernel's arrival stamp of a datagram from its
// control messages (zero when there is none). 64-bit layout: a cmsghdr
// of 16 bytes (length, level, type), then a timespec of two int64s.
func rxTime(oob []byte) time.Time {
	const hdr = 16
	for len(oob) >= hdr {
		l := int(binary.NativeEndian.Uint64(oob[0:8]))
		if l < hdr || l > len(oob) {
			return time.Time{}
		}
		level := int32(binary.NativeEndian.Uint32(oob[8:12]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:16]))
		if level == syscall.SOL_SOCKET && typ == syscall.SO_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr : hdr+8]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8 : hdr+16]))
			return time.Unix(sec, nsec)
		}
		oob = oob[min((l+7)&^7, len(oob)):]
	}
	return time.Time{}
}

// headWait returns how long the datagram at the head of c's receive
// queue has waited there (its kernel arrival stamp), leaving it in the
// queue (MSG_PEEK): false when the queue is empty or the datagram has
// no stamp.
func headWait(c *net.UDPConn, now time.Time, oob []byte) (time.Duration, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var b [1]byte
	var oobn int
	var rerr error
	if err := raw.Control(func(fd uintptr) {
		_, oobn, _, _, rerr = syscall.Recvmsg(int(fd), b[:], oob, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil || rerr != nil {
		return 0, false
	}
	at := rxTime(oob[:oobn])
	if at.IsZero() {
		return 0, false
	}
	return now.Sub(at), true
}
