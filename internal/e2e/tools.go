package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Loopback is the only address the helpers ever bind or send to.
const Loopback = "127.0.0.1"

// debianPackage names the Debian package providing one of the programs the
// end-to-end tests drive, or "" when unknown.
func debianPackage(tool string) string {
	switch tool {
	case "sipp":
		return "sip-tester"
	case "baresip":
		return "baresip-core"
	case "linphonec":
		return "linphone-cli"
	case "stdbuf":
		return "coreutils"
	}
	return ""
}

// ErrNoFreePort is returned when no free loopback port (or port block) was
// found within the attempt budget.
var ErrNoFreePort = errors.New("e2e: no free loopback port found")

// RequireTool returns the absolute path of the program name, looked up in
// PATH. When it is missing the test fails (it is never skipped): the message
// names the Debian package that provides it and reminds that `make test`
// installs it.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	pkg := debianPackage(name)
	if pkg == "" {
		pkg = "the package providing " + name
	} else {
		pkg = "Debian package " + pkg
	}
	t.Fatalf("e2e: %q not found in PATH (%v): install %s (`make test` installs it via `make deps`)", name, err, pkg)
	return ""
}

// FreePort returns a port on 127.0.0.1 that was free for network ("udp" or
// "tcp") a moment ago. As with any such helper another process may grab it
// before the caller binds it; the window is small on a test machine.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	p, err := freePort(network)
	if err != nil {
		t.Fatalf("e2e: FreePort(%s): %v", network, err)
	}
	return p
}

// FreeUDPTCPPort returns a port free for both UDP and TCP on 127.0.0.1, as
// SIP listeners (baresip's sip_listen, SIPp) use both.
func FreeUDPTCPPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		p, err := freePort("udp")
		if err != nil {
			continue
		}
		if portFree("tcp", p) {
			return p
		}
	}
	t.Fatalf("e2e: FreeUDPTCPPort: %v", ErrNoFreePort)
	return 0
}

// FreeUDPPortBlock returns an even port base such that base..base+n-1 were
// all free UDP ports on 127.0.0.1 (an RTP/RTCP pair is n=2; SIPp's -mp needs
// n=4: it binds mp and mp+2, and RTCP of each sits on the next odd port).
func FreeUDPPortBlock(t testing.TB, n int) int {
	t.Helper()
	if n < 1 {
		n = 1
	}
	for range 100 {
		p, err := freePort("udp")
		if err != nil {
			continue
		}
		base := p &^ 1
		if base+n-1 > 65535 || base < 1024 {
			continue
		}
		ok := true
		for i := range n {
			if !portFree("udp", base+i) {
				ok = false
				break
			}
		}
		if ok {
			return base
		}
	}
	t.Fatalf("e2e: FreeUDPPortBlock(%d): %v", n, ErrNoFreePort)
	return 0
}

// FreeRTPPortPair returns an even UDP port base with base+1 free too.
func FreeRTPPortPair(t testing.TB) int {
	t.Helper()
	return FreeUDPPortBlock(t, 2)
}

// handedOut are the ports freePort returned to this process's tests: it
// never returns one twice, so that helpers started at once (a test
// starting 21 baresip agents in parallel) cannot all pick a port the
// kernel offered each of them before any of them bound it. Two agents
// once got the same ctrl_tcp port: one baresip could not listen, and
// its driver steered the other.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePort returns a port free for network a moment ago, never one it
// returned before in this process.
func freePort(network string) (int, error) {
	for range 100 {
		p, err := kernelFreePort(network)
		if err != nil {
			return 0, err
		}
		handedOut.Lock()
		seen := handedOut.ports[p]
		handedOut.ports[p] = true
		handedOut.Unlock()
		if !seen {
			return p, nil
		}
	}
	return 0, ErrNoFreePort
}

// kernelFreePort binds port 0 for network and returns the port the
// kernel chose.
func kernelFreePort(network string) (int, error) {
	switch network {
	case "udp", "udp4":
		c, err := net.ListenPacket("udp4", net.JoinHostPort(Loopback, "0"))
		if err != nil {
			return 0, fmt.Errorf("e2e: listen udp: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	case "tcp", "tcp4":
		l, err := net.Listen("tcp4", net.JoinHostPort(Loopback, "0"))
		if err != nil {
			return 0, fmt.Errorf("e2e: listen tcp: %w", err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	default:
		return 0, fmt.Errorf("e2e: unsupported network %q", network)
	}
}

func portFree(network string, port int) bool {
	addr := net.JoinHostPort(Loopback, strconv.Itoa(port))
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	case "tcp":
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	return false
}

// portBound reports whether some socket is bound to port on 127.0.0.1 or
// 0.0.0.0 (UDP) or listening on it (TCP), from /proc/net without binding
// the port itself (a probe bind could make the owner's bind fail). Where
// /proc/net is unavailable it falls back to a probe bind.
func portBound(network string, port int) bool {
	file, wantState := "/proc/net/udp", ""
	if network == "tcp" {
		file, wantState = "/proc/net/tcp", "0A" // LISTEN
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return !portFree(network, port)
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		local := f[1]
		if !strings.HasSuffix(local, suffix) {
			continue
		}
		ip := strings.TrimSuffix(local, suffix)
		if ip != "0100007F" && ip != "00000000" {
			continue
		}
		if wantState == "" || f[3] == wantState {
			return true
		}
	}
	return false
}
