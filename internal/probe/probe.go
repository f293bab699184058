// Package probe asks a server on the network whether it is ready: a Redis
// PING and a SIP OPTIONS. internal/redistest and internal/kamailiotest
// (for tests) and cmd/hotline-load (for the benchmark) use it to wait for
// the servers they start.
package probe

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// RedisPing sends PING to the Redis at addr (host:port, TCP) in the
// inline protocol and expects +PONG within a second.
func RedisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// SIPOptions sends an OPTIONS for the SIP server at addr (host:port, UDP)
// itself and expects a 200 within 300 ms.
func SIPOptions(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	id := strconv.FormatUint(rand.Uint64(), 36)
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:probe@" + local + ">;tag=" + id + "\r\n" +
		"To: <sip:" + addr + ">\r\n" +
		"Call-ID: " + id + "@probe\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		return errors.New("OPTIONS answered " + strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	}
	return nil
}
