package kamailiotest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ua is a SIP endpoint on a 127.0.0.1 UDP socket that records the
// requests it gets and answers them with a fixed status.
type ua struct {
	addr string
	ua   *sipgo.UserAgent
	cli  *sipgo.Client
	conn net.PacketConn
	done chan struct{}

	mu   sync.Mutex
	reqs []*sip.Request
	code int // INVITE answer
}

func newUA(t *testing.T, name string, inviteCode int) *ua {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &ua{addr: conn.LocalAddr().String(), conn: conn, done: make(chan struct{}), code: inviteCode}
	host, port, _ := net.SplitHostPort(u.addr)
	p, _ := strconv.Atoi(port)
	u.ua, err = sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname(host))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(u.ua)
	if err != nil {
		t.Fatal(err)
	}
	u.cli, err = sipgo.NewClient(u.ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(p), sipgo.WithClientConnectionAddr(u.addr))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(code int) func(*sip.Request, sip.ServerTransaction) {
		return func(req *sip.Request, tx sip.ServerTransaction) {
			u.mu.Lock()
			u.reqs = append(u.reqs, req)
			c := u.code
			u.mu.Unlock()
			if code != 0 {
				c = code
			}
			_ = tx.Respond(sip.NewResponseFromRequest(req, c, "Test", nil))
		}
	}
	srv.OnInvite(answer(0))
	srv.OnRegister(answer(200))
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	go func() { defer close(u.done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(u.close)
	// Requests go out from the listening socket (as a phone's and a
	// Hotline node's do) once the server has registered it.
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		self := u.uri("")
		_, err := u.cli.Do(ctx, newRequest(sip.OPTIONS, self, self, self))
		cancel()
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("%s: socket not usable: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return u
}

// close stops answering (a dead node).
func (u *ua) close() {
	select {
	case <-u.done:
		return
	default:
	}
	_ = u.conn.Close()
	<-u.done
	_ = u.ua.Close()
}

func (u *ua) requests(method sip.RequestMethod) []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*sip.Request
	for _, r := range u.reqs {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

func (u *ua) uri(user string) sip.Uri {
	host, port, _ := net.SplitHostPort(u.addr)
	p, _ := strconv.Atoi(port)
	return sip.Uri{Scheme: "sip", User: user, Host: host, Port: p}
}

func newRequest(method sip.RequestMethod, ruri, from sip.Uri, to sip.Uri) *sip.Request {
	req := sip.NewRequest(method, ruri)
	f := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	f.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(f)
	req.AppendHeader(&sip.ToHeader{Address: to})
	req.AppendHeader(&sip.ContactHeader{Address: from})
	return req
}

func (u *ua) do(t *testing.T, req *sip.Request) (*sip.Response, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	res, err := u.cli.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	return res, time.Since(start)
}

func edgeURI(e *Edge, user string) sip.Uri {
	host, port, _ := net.SplitHostPort(e.Addr)
	p, _ := strconv.Atoi(port)
	return sip.Uri{Scheme: "sip", User: user, Host: host, Port: p}
}

// TestShippedConfig runs deploy/kamailio/kamailio.cfg in front of three
// stand-in nodes: calls are spread round robin, a dead node leaves the
// set within 5 s, a REGISTER reaches a node with a Path naming the phone,
// a node reaches the phone through that Path, and a restarted Kamailio
// routes again.
func TestShippedConfig(t *testing.T) {
	nodes := []*ua{newUA(t, "node0", 486), newUA(t, "node1", 486), newUA(t, "node2", 486)}
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
	}
	e := Start(t, Options{Nodes: addrs})
	caller := newUA(t, "caller", 0)
	hotline := edgeURI(e, "1000")

	call := func() (*sip.Response, time.Duration) {
		return caller.do(t, newRequest(sip.INVITE, hotline, caller.uri("caller"), hotline))
	}

	// Spread: nine calls, three per node.
	for i := 0; i < 9; i++ {
		if res, _ := call(); res.StatusCode != 486 {
			t.Fatalf("call %d: %d, want the node's 486", i, res.StatusCode)
		}
	}
	for i, n := range nodes {
		if got := len(n.requests(sip.INVITE)); got != 3 {
			t.Errorf("node%d got %d of 9 calls, want 3 (round robin)", i, got)
		}
		for _, r := range n.requests(sip.INVITE) {
			if r.GetHeader("Record-Route") == nil {
				t.Errorf("node%d: INVITE without Record-Route", i)
			}
		}
	}

	// A dead node leaves the set within 5 s: afterwards every call is
	// answered at once by a live node (no failover wait).
	nodes[1].close()
	time.Sleep(5 * time.Second)
	before0, before2 := len(nodes[0].requests(sip.INVITE)), len(nodes[2].requests(sip.INVITE))
	for i := 0; i < 6; i++ {
		res, took := call()
		if res.StatusCode != 486 {
			t.Fatalf("call after node death: %d", res.StatusCode)
		}
		if took > time.Second {
			t.Errorf("call after node death took %s: the dead node is still in the set", took)
		}
	}
	if d0, d2 := len(nodes[0].requests(sip.INVITE))-before0, len(nodes[2].requests(sip.INVITE))-before2; d0 != 3 || d2 != 3 {
		t.Errorf("after node1 died: node0 got %d, node2 %d of 6 calls, want 3 and 3", d0, d2)
	}

	// An agent registers through the edge: the node gets a Path with the
	// phone's address, and reaches the phone through it.
	phone := newUA(t, "phone", 486)
	aor := edgeURI(e, "alice")
	reg := newRequest(sip.REGISTER, edgeURI(e, ""), phone.uri("alice"), aor)
	reg.AppendHeader(sip.NewHeader("Expires", "300"))
	reg.AppendHeader(sip.NewHeader("Supported", "path"))
	if res, _ := phone.do(t, reg); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	var regd *sip.Request
	var node *ua
	for _, n := range []*ua{nodes[0], nodes[2]} {
		if r := n.requests(sip.REGISTER); len(r) > 0 {
			regd, node = r[0], n
		}
	}
	if regd == nil {
		t.Fatal("no node got the REGISTER")
	}
	path := regd.GetHeader("Path")
	if path == nil {
		t.Fatalf("REGISTER reached the node without Path:\n%s", regd)
	}
	if !strings.Contains(path.Value(), e.Addr) || !strings.Contains(path.Value(), "received=") || !strings.Contains(path.Value(), phone.addr) {
		t.Fatalf("Path = %q, want the edge %s with received=<phone %s>", path.Value(), e.Addr, phone.addr)
	}
	// The phone's contact as a node would dial it, with Path as Route.
	// The contact's port is made wrong on purpose: only the Path's
	// received parameter leads to the phone.
	contact := phone.uri("alice")
	contact.Port = 9 // discard
	inv := newRequest(sip.INVITE, contact, node.uri("hotline"), phone.uri("alice"))
	inv.AppendHeader(sip.NewHeader("Route", strings.Trim(path.Value(), " ")))
	res, _ := node.do(t, inv)
	if res.StatusCode != 486 {
		t.Fatalf("INVITE to the phone through the edge: %d", res.StatusCode)
	}
	got := phone.requests(sip.INVITE)
	if len(got) != 1 {
		t.Fatalf("phone got %d INVITEs, want 1", len(got))
	}
	if rr := got[0].GetHeader("Record-Route"); rr == nil || !strings.Contains(rr.Value(), e.Addr) {
		t.Errorf("INVITE at the phone: Record-Route %v, want the edge's", rr)
	}

	// Kamailio restarts: calls are routed again (to the live nodes).
	e.Restart(t)
	time.Sleep(3 * time.Second) // the dead node is probed out again
	if res, _ := call(); res.StatusCode != 486 {
		t.Fatalf("call after Kamailio restart: %d", res.StatusCode)
	}
}
