//go:build linux && (amd64 || arm64)

package rxstamp

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
)

// Space is the control buffer one stamp needs: CMSG_SPACE of a struct
// timespec (a 16-byte cmsghdr, then two int64s).
const Space = 32

// Enable asks the kernel to stamp every datagram c receives with its
// arrival time (SO_TIMESTAMPNS). It reports whether it could.
func Enable(c *net.UDPConn) bool {
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

// Time returns the kernel's arrival stamp of a datagram from its control
// messages (zero when there is none). 64-bit layout: a cmsghdr of 16
// bytes (length, level, type), then a timespec of two int64s.
func Time(oob []byte) time.Time {
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
