//go:build linux

package krelay

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// inNetns runs f on a thread switched into the network namespace name
// (sockets made there stay in it), then switches back.
func inNetns(t *testing.T, name string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	ns, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ns)
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			panic(fmt.Sprintf("back to the test's network namespace: %v", err))
		}
	}()
	f()
}

func udpOn(t *testing.T, ip netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRelayOutOfAnInterface: phones on another host (a network namespace
// behind a veth pair) talk through two legs bound to this side's address;
// the kernel relays their packets back out of the interface they came in
// on (redirect with neighbour resolution), from the other leg's address.
func TestRelayOutOfAnInterface(t *testing.T) {
	id := rand.IntN(1 << 20)
	ns, here, there := fmt.Sprintf("hlkr%d", id), fmt.Sprintf("hlkr%dh", id), fmt.Sprintf("hlkr%dp", id)
	ipCmd(t, "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ipCmd(t, "link", "add", here, "type", "veth", "peer", "name", there, "netns", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", here).Run() })
	sub := fmt.Sprintf("10.%d.%d", 100+id%100, id/100%250)
	hostIP, phoneIP := netip.MustParseAddr(sub+".1"), netip.MustParseAddr(sub+".2")
	ipCmd(t, "addr", "add", hostIP.String()+"/24", "dev", here)
	ipCmd(t, "link", "set", here, "up")
	ipCmd(t, "-n", ns, "addr", "add", phoneIP.String()+"/24", "dev", there)
	ipCmd(t, "-n", ns, "link", "set", there, "up")
	ipCmd(t, "-n", ns, "link", "set", "lo", "up")

	var caller, agent *net.UDPConn
	inNetns(t, ns, func() { caller, agent = udpOn(t, phoneIP), udpOn(t, phoneIP) })
	legA, legB := udpOn(t, hostIP), udpOn(t, hostIP)

	r, err := Open(16, here)
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	defer r.Close()
	ifc, err := net.InterfaceByName(here)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Install(addr(legA), Flow{ID: 1, From: addr(caller), OutFrom: addr(legB), OutTo: addr(agent), Ifindex: ifc.Index}); err != nil {
		t.Fatal(err)
	}
	// The first packet may wait for ARP; send until one arrives.
	var got []byte
	var from netip.AddrPort
	for i := range 20 {
		if _, err := caller.WriteToUDPAddrPort(rtp(0, uint16(i), 0x66), addr(legA)); err != nil {
			t.Fatal(err)
		}
		var ok bool
		if got, from, ok = recv(t, agent, 100*time.Millisecond); ok {
			break
		}
	}
	if got == nil {
		t.Fatal("the agent on the other host got nothing")
	}
	if from != addr(legB) || got[12] != 0x66 {
		t.Errorf("the agent got a packet from %s, want the agent leg %s", from, addr(legB))
	}
	if c, err := r.Counters(); err != nil || c.Relayed == 0 {
		t.Errorf("counters %+v, %v: nothing relayed in the kernel", c, err)
	}
	legA.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := legA.ReadFromUDPAddrPort(make([]byte, 2048)); err == nil {
		t.Error("the caller leg's socket got a packet the kernel relayed")
	}
}
