//go:build linux

package sip

import (
	"net"
	"testing"
	"time"
)

// TestUDPWriterSendsFromTheListener: what the writer sends leaves from
// the listening socket's own address and port (a phone or proxy matches
// responses by it), and once closed it hands writes back to the
// net.UDPConn instead of failing them.
func TestUDPWriterSendsFromTheListener(t *testing.T) {
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	w := newUDPWriter(ln)
	if w == nil {
		t.Fatal("no writer for a UDP socket on Linux")
	}
	msg := []byte("SIP/2.0 503 Service Unavailable\r\n\r\n")
	n, done, err := w.write(msg, peer.LocalAddr())
	if !done || err != nil || n != len(msg) {
		t.Fatalf("write = %d, %v, %v; want %d, true, nil", n, done, err, len(msg))
	}
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, from, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:got]) != string(msg) || from.String() != ln.LocalAddr().String() {
		t.Errorf("peer got %q from %v, want %q from %v", buf[:got], from, msg, ln.LocalAddr())
	}
	if _, done, _ := w.write(msg, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}); done {
		t.Error("a non-UDP address was taken, not handed back")
	}
	w.close()
	w.close()
	if _, done, _ := w.write(msg, peer.LocalAddr()); done {
		t.Error("a closed writer took a write instead of handing it back")
	}
}
