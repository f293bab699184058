//go:build !linux

package sip

import "net"

// udpWriter: elsewhere SIP datagrams go out through the net.UDPConn.
type udpWriter struct{}

func newUDPWriter(*net.UDPConn) *udpWriter { return nil }

func (*udpWriter) write([]byte, net.Addr) (int, bool, error) { return 0, false, nil }

func (*udpWriter) close() {}
