//go:build !linux

package sip

import (
	"errors"
	"net"
)

// splitInvites is Linux only (SO_ATTACH_REUSEPORT_CBPF).
func splitInvites(*net.UDPConn) (*net.UDPConn, error) {
	return nil, errors.New("an INVITE socket of its own needs Linux")
}
