package registrar

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/internal/kamailiotest"
)

// TestEndToEndUDP registers with sipgo's own client (Do, then
// DoDigestAuth) over UDP on 127.0.0.1.
func TestEndToEndUDP(t *testing.T) {
	f := newFixture(t)

	port := serveUDP(t, "hotline-test", func(srv *sipgo.Server) { srv.OnRegister(f.r.HandleRegister) }).Port

	cliUA, err := sipgo.NewUA(sipgo.WithUserAgent("phone"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cliUA.Close()
	cli, err := sipgo.NewClient(cliUA, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}

	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: port})
	aor := sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1"}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5099}})
	req.AppendHeader(sip.NewHeader("Expires", "120"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, 401)
	res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "alice-secret"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, 200)

	b := f.r.Lookup("alice")
	if len(b) != 1 {
		t.Fatalf("Lookup = %+v, want one binding", b)
	}
	if b[0].Contact.Port != 5099 || b[0].Transport != "UDP" || !b[0].Expires.Equal(f.clock.Now().Add(120*time.Second)) {
		t.Errorf("binding = %+v", b[0])
	}
	if host, _, err := net.SplitHostPort(b[0].Source); err != nil || host != "127.0.0.1" {
		t.Errorf("Source = %q, want 127.0.0.1:<port>", b[0].Source)
	}
	if got := contacts(res); len(got) != 1 {
		t.Errorf("200 Contact = %q, want the binding", got)
	}
}

// TestEndToEndThroughEdge registers with sipgo's client through the
// shipped Kamailio edge (deploy/kamailio/kamailio.cfg): the binding holds
// the Path Kamailio added, naming the phone's address, and the 200 OK
// returns it to the phone, which said Supported: path.
func TestEndToEndThroughEdge(t *testing.T) {
	f := newFixture(t)
	f.clock.t = time.Now() // Kamailio and the phone run on real time

	node := serveUDP(t, "hotline-test", func(srv *sipgo.Server) {
		srv.OnRegister(f.r.HandleRegister)
		srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		})
	})
	edge := kamailiotest.Start(t, kamailiotest.Options{Nodes: []string{node.String()}})
	host, portStr, _ := net.SplitHostPort(edge.Addr)
	port, _ := strconv.Atoi(portStr)

	var cliUA *sipgo.UserAgent
	phoneAddr := serveUDP(t, "phone", func(srv *sipgo.Server) { cliUA = srv.UserAgent })
	cli, err := sipgo.NewClient(cliUA, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(phoneAddr.Port),
		sipgo.WithClientConnectionAddr(phoneAddr.String()))
	if err != nil {
		t.Fatal(err)
	}

	newReg := func() *sip.Request {
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
		aor := sip.Uri{Scheme: "sip", User: "alice", Host: host}
		from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
		from.Params.Add("tag", sip.GenerateTagN(8))
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: aor})
		req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: phoneAddr.Port}})
		req.AppendHeader(sip.NewHeader("Expires", "120"))
		req.AppendHeader(sip.NewHeader("Supported", "path"))
		return req
	}
	var res *sip.Response
	for attempt := 0; ; attempt++ { // the phone's socket is served a moment after ServeUDP starts
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := newReg()
		res, err = cli.Do(ctx, req)
		if err == nil {
			res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "alice-secret"})
		}
		cancel()
		if err == nil || attempt == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, 200)

	b := f.r.Lookup("alice")
	if len(b) != 1 || len(b[0].Path) != 1 {
		t.Fatalf("Lookup = %+v, want one binding with one Path entry", b)
	}
	p := b[0].Path[0]
	if !strings.Contains(p, "sip:"+edge.Addr+";lr") || !strings.Contains(p, "received=sip:"+phoneAddr.String()) {
		t.Errorf("Path = %q, want the edge %s with received=sip:%s", p, edge.Addr, phoneAddr)
	}
	if got := headerValues(res, "Path"); len(got) != 1 || got[0] != p {
		t.Errorf("200 OK Path = %q, want %q", got, p)
	}
}

// serveUDP runs a sipgo server on a 127.0.0.1 UDP socket until the test
// ends; setup adds its handlers.
func serveUDP(t *testing.T, name string, setup func(*sipgo.Server)) *net.UDPAddr {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	setup(srv)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { _ = conn.Close(); <-served; _ = ua.Close() })
	return conn.LocalAddr().(*net.UDPAddr)
}
