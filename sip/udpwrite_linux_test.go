//go:build linux

package sip

import (
	"errors"
	"net"
	"testing"
	"time"

	"hotline/internal/rxstamp"
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

// TestDoorReaderReadsAndCloses: the door's reader gives a datagram with
// its source and arrival stamp; Close ends a read waiting for the next
// one with net.ErrClosed, and the port is free again (the writer's
// duplicate descriptor is closed too).
func TestDoorReaderReadsAndCloses(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if !rxstamp.Enable(uc) {
		t.Fatal("no arrival stamps")
	}
	c := &shedConn{PacketConn: uc, udp: uc, w: newUDPWriter(uc), now: time.Now}
	if c.w == nil {
		t.Fatal("no duplicate descriptor")
	}
	addr := uc.LocalAddr().(*net.UDPAddr)
	cl, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Write([]byte("OPTIONS")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := c.read(buf)
	if err != nil || string(buf[:n]) != "OPTIONS" || from.String() != cl.LocalAddr().String() || c.arrived.IsZero() {
		t.Fatalf("read %q from %v (err %v, stamp %v), want OPTIONS from %v with an arrival stamp", buf[:n], from, err, c.arrived, cl.LocalAddr())
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.read(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it wait for a datagram
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting read did not end on Close")
	}
	again, err := net.ListenUDP("udp4", addr)
	if err != nil {
		t.Fatalf("port not free after Close: %v", err)
	}
	_ = again.Close()
}
