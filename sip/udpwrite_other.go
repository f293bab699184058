//go:build !linux

package sip

import (
	"errors"
	"net"
	"net/netip"
)

// udpWriter: elsewhere SIP datagrams go out through the net.UDPConn.
type udpWriter struct{}

func newUDPWriter(*net.UDPConn) *udpWriter { return nil }

func (*udpWriter) write([]byte, net.Addr) (int, bool, error) { return 0, false, nil }

func (*udpWriter) close() {}

var errRecvIdle = errors.New("sip: no datagram within the poll interval")

func (*udpWriter) recv([]byte, []byte) (int, int, netip.AddrPort, error) {
	return 0, 0, netip.AddrPort{}, net.ErrClosed
}

func (*udpWriter) shutdown() {}
