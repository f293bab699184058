package registrar

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
)

// FuzzHandleRegister feeds arbitrary Authorization values to
// HandleRegister. "NONCE" in the input is replaced by a nonce the
// registrar issued, so the fuzzer gets past the nonce check. Every request
// must get exactly one response and never a 200 without the password.
func FuzzHandleRegister(f *testing.F) {
	f.Add(`Digest username="alice", realm="hotline", nonce="NONCE", uri="sip:hotline.test", response="0123", algorithm=SHA-256, cnonce="c", qop=auth, nc=00000001`)
	f.Add(`Digest username="alice", realm="hotline", nonce="NONCE", uri="sip:hotline.test", response="0123"`)
	f.Add(`Digest username="alice", realm="hotline", nonce="NONCE", uri="sip:hotline.test", response="", nc=-1, qop=auth`)
	f.Add(`Digest username="\"", realm="hotline\\", nonce=""`)
	f.Add(`Digest `)
	f.Add(`Basic YWxpY2U6YWxpY2Utc2VjcmV0`)
	f.Add("Digest username=\"alice\",,,realm=hotline")
	f.Add("")

	r := New(Config{Algorithms: []string{"MD5", "SHA-256"}}, testCreds, nil, nil)
	ch := challengeFor(f, serve(f, r.HandleRegister, request(f, sip.REGISTER, "alice", "c0", 1)), "SHA-256")
	f.Fuzz(func(t *testing.T, auth string) {
		auth = strings.ReplaceAll(auth, "NONCE", ch["nonce"])
		req := request(t, sip.REGISTER, "alice", "c1", 2, "Contact: <sip:alice@127.0.0.1:5062>")
		req.AppendHeader(sip.NewHeader("Authorization", auth))
		tx := siptest.NewServerTxRecorder(req)
		defer tx.Terminate()
		r.HandleRegister(req, tx)
		res := tx.Result()
		if len(res) != 1 {
			t.Fatalf("got %d responses", len(res))
		}
		if res[0].StatusCode == 200 {
			t.Fatalf("fuzzed Authorization %q registered", auth)
		}
	})
}
