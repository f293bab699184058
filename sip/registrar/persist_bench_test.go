package registrar

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkSaveSnapshot2600: what the state keeper paid each second for
// 2,600 registered phones before Generation let it skip an unchanged
// registrar: the snapshot and its JSON.
func BenchmarkSaveSnapshot2600(b *testing.B) {
	r := New(Config{}, func(string) (Secret, bool) { return Secret{}, true }, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var saved []SavedBinding
	for i := range 2600 {
		saved = append(saved, SavedBinding{Username: fmt.Sprintf("a%05d", i), Contact: fmt.Sprintf("sip:a%05d@127.0.0.1:%d;transport=udp", i, 20000+i), Source: "127.0.0.1:5060", Transport: "UDP", Expires: time.Now().Add(time.Hour), CallID: fmt.Sprintf("cid-%d-abcdef", i), CSeq: 2, UserAgent: "hotline-load"})
	}
	if n, err := r.Restore(saved); n != 2600 {
		b.Fatal(n, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(r.Save()); err != nil {
			b.Fatal(err)
		}
	}
}
