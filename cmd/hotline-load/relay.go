package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runRelay is the "relay" subcommand: the bare UDP relay the benchmark
// compares Hotline's relay with. It binds -pairs socket pairs on
// 127.0.0.1, prints {"ports":[a0,b0,a1,b1,...]} on stdout and forwards
// whatever one socket of a pair receives out of the other socket to the
// last source seen there: one goroutine per socket, a blocking read, a
// write, nothing else. It runs until SIGTERM, SIGINT or stdin closes.
func runRelay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pairs := fs.Int("pairs", 100, "socket pairs (calls)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pairs < 1 || *pairs > 10000 {
		fmt.Fprintln(stderr, "relay: -pairs must be 1..10000")
		return 2
	}
	socks := make([]*relaySock, 0, 2**pairs)
	defer func() {
		for _, s := range socks {
			_ = s.conn.Close()
		}
	}()
	var ports []int
	for range 2 * *pairs {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			fmt.Fprintln(stderr, "relay:", err)
			return 1
		}
		socks = append(socks, &relaySock{conn: c})
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for i := 0; i < len(socks); i += 2 {
		socks[i].other, socks[i+1].other = socks[i+1], socks[i]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var wg sync.WaitGroup
	for _, s := range socks {
		wg.Add(1)
		go func() { defer wg.Done(); s.loop() }()
	}
	if err := json.NewEncoder(stdout).Encode(relayPorts{Ports: ports}); err != nil {
		return 1
	}
	go func() { // the parent closing our stdin also stops us
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	<-ctx.Done()
	for _, s := range socks {
		_ = s.conn.Close()
	}
	wg.Wait()
	return 0
}

type relayPorts struct {
	Ports []int `json:"ports"`
}

type relaySock struct {
	conn  *net.UDPConn
	other *relaySock
	peer  atomic.Pointer[netip.AddrPort] // last source, where the other socket sends
}

func (s *relaySock) loop() {
	buf := make([]byte, 1600)
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if p := s.peer.Load(); p == nil || *p != src {
			s.peer.Store(&src)
		}
		if dst := s.other.peer.Load(); dst != nil {
			_, _ = s.other.conn.WriteToUDPAddrPort(buf[:n], *dst)
		}
	}
}

// startRelay runs this program's relay subcommand as a child process.
func startRelay(pr *procs, pairs int, logPath string) (*child, []int, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, "relay", "-pairs", fmt.Sprint(pairs))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	c, err := pr.start("relay", cmd, logPath)
	if err != nil {
		return nil, nil, err
	}
	c.stdin = stdin
	lines := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		if sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line, ok := <-lines:
		var rp relayPorts
		if !ok || json.Unmarshal(line, &rp) != nil || len(rp.Ports) != 2*pairs {
			c.stop(2 * time.Second)
			return nil, nil, fmt.Errorf("relay did not report its ports: %q", line)
		}
		return c, rp.Ports, nil
	case <-time.After(10 * time.Second):
		c.stop(2 * time.Second)
		return nil, nil, errors.New("relay did not start within 10s")
	}
}
