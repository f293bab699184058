package proctest

import (
	"net"
	"testing"
)

// TestFreeUDPRangeDisjoint: the ranges handed out to the tests of one
// process do not overlap, start on an even port, lie below the ephemeral
// ports, and are released when the test that got them ends. The ranges
// are small: the e2e tests of other packages (run at the same time by
// `go test ./...`) hold ports in the same band, so six ranges of 1,000
// free ports each were not always there.
func TestFreeUDPRangeDisjoint(t *testing.T) {
	type span struct{ first, last int }
	var got []span
	t.Run("reserve", func(t *testing.T) {
		for range 6 {
			first, last := FreeUDPRange(t, 100)
			if first%2 != 0 || last != first+99 || first < udpRangeLow || last > udpRangeHigh {
				t.Fatalf("range %d-%d: want 100 ports from an even one within %d-%d", first, last, udpRangeLow, udpRangeHigh)
			}
			for _, s := range got {
				if first <= s.last && s.first <= last {
					t.Fatalf("range %d-%d overlaps %d-%d", first, last, s.first, s.last)
				}
			}
			got = append(got, span{first, last})
		}
	})
	udpRanges.Lock()
	left := len(udpRanges.held)
	udpRanges.Unlock()
	if left != 0 {
		t.Errorf("%d ranges still held after the test that reserved them ended", left)
	}
}

// TestUDPPortsFreeSeesBoundPort: a port another socket holds makes its
// range busy.
func TestUDPPortsFreeSeesBoundPort(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := c.LocalAddr().(*net.UDPAddr).Port
	if busy, ok := udpPortsFree(p-1, p+1); ok || busy != p {
		t.Errorf("udpPortsFree(%d, %d) = %d, %v with %d bound; want %d, false", p-1, p+1, busy, ok, p, p)
	}
}
