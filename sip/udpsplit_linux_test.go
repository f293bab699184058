//go:build linux

package sip

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSplitInvitesSteersDatagrams: with the INVITE socket, the kernel
// delivers the datagrams that start "INVITE " to the first socket and
// every other one (responses, ACK, BYE, REGISTER, keep-alives, a method
// that only starts like INVITE) to the second, on the same address.
func TestSplitInvitesSteersDatagrams(t *testing.T) {
	invites, rest := splitPair(t)
	if rest.LocalAddr().String() != invites.LocalAddr().String() {
		t.Fatalf("rest on %s, invites on %s: want one address", rest.LocalAddr(), invites.LocalAddr())
	}
	msgs := map[string]bool{ // datagram: to the INVITE socket
		"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nCall-ID: a\r\n\r\n":        true,
		"INVITE sip:agent@127.0.0.1 SIP/2.0\r\nTo: <sip:a@b>;tag=x\r\n\r\n": true, // a re-INVITE: the door lets it through
		"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n":                          false,
		"ACK sip:hotline@127.0.0.1 SIP/2.0\r\n\r\n":                         false,
		"BYE sip:hotline@127.0.0.1 SIP/2.0\r\n\r\n":                         false,
		"REGISTER sip:127.0.0.1 SIP/2.0\r\n\r\n":                            false,
		"\r\n\r\n":                                                          false,
		"INVITED sip:x SIP/2.0\r\n\r\n":                                     false,
		"INVITE":                                                            false, // 6 bytes: no room for the space
		"invite sip:x SIP/2.0\r\n\r\n":                                      false, // methods are case-sensitive
		"CANCEL sip:hotline@127.0.0.1 SIP/2.0\r\n\r\n":                      false,
		"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9\r\n\r\n": false,
	}
	client, err := net.DialUDP("udp", nil, invites.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for m := range msgs {
		if _, err := client.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	read := func(c *net.UDPConn, invite bool) {
		buf := make([]byte, 2048)
		for {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, _, err := c.ReadFromUDP(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := string(buf[:n])
			if _, dup := got[m]; dup {
				t.Errorf("%q read twice", m)
			}
			got[m] = invite
		}
	}
	read(invites, true)
	read(rest, false)
	for m, want := range msgs {
		inv, ok := got[m]
		switch {
		case !ok:
			t.Errorf("%q never arrived", m)
		case inv != want:
			t.Errorf("%q arrived in the INVITE socket: %v, want %v", m, inv, want)
		}
	}
}

// TestSplitInvitesPortTaken: a second Hotline started on a port the
// first holds fails with "address already in use", as it would without
// the shared port, instead of joining the first's sockets.
func TestSplitInvitesPortTaken(t *testing.T) {
	pc, _ := splitPair(t)
	second, err := net.ListenPacket("udp", pc.LocalAddr().String())
	if err == nil {
		second.Close()
		t.Fatalf("a second listener bound %s", pc.LocalAddr())
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listener: %v, want address already in use", err)
	}
}

// splitPair binds a listener on a free port of 127.0.0.1 and its second
// socket (splitInvites), both closed when the test ends.
func splitPair(t *testing.T) (invites, rest *net.UDPConn) {
	t.Helper()
	invites, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = invites.Close() })
	rest, err = splitInvites(invites)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rest.Close() })
	return invites, rest
}
