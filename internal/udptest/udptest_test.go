package udptest

import (
	"net"
	"testing"
)

// TestSendPacedCountsEverything: 20,000 datagrams sent as fast as the
// Counter reads them all arrive, and the count says so.
func TestSendPacedCountsEverything(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	k := Count(rx)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	p := make([]byte, 172)
	if err := SendPaced(k, 20000, func(int) error { _, err := tx.WriteToUDPAddrPort(p, to); return err }); err != nil {
		t.Fatal(err)
	}
	if n := k.Stop(); n != 20000 {
		t.Errorf("counted %d of 20000", n)
	}
}
