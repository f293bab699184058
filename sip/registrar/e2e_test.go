package registrar

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// TestEndToEndUDP registers with sipgo's own client (Do, then
// DoDigestAuth) over UDP on 127.0.0.1.
func TestEndToEndUDP(t *testing.T) {
	f := newFixture(t)

	srvUA, err := sipgo.NewUA(sipgo.WithUserAgent("hotline-test"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer srvUA.Close()
	srv, err := sipgo.NewServer(srvUA)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(f.r.HandleRegister)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ServeUDP(conn) }()
	defer func() { _ = conn.Close(); <-served }()
	port := conn.LocalAddr().(*net.UDPAddr).Port

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
