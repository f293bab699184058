package main

import "testing"

func TestGeneratorGC(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, c := range []struct {
		name  string
		env   map[string]string
		mem   int64
		limit int64
		ok    bool
	}{
		{"24 GiB machine", nil, 24 << 30, 4 << 30, true},
		{"8 GiB machine", nil, 8 << 30, 2 << 30, true},
		{"2 GiB machine", nil, 2 << 30, 1 << 30, true},
		{"memory unknown", nil, 0, 1 << 30, true},
		{"GOGC set", map[string]string{"GOGC": "100"}, 24 << 30, 0, false},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, 24 << 30, 0, false},
	} {
		limit, ok := generatorGC(env(c.env), c.mem)
		if limit != c.limit || ok != c.ok {
			t.Errorf("%s: limit %d ok %v, want %d %v", c.name, limit, ok, c.limit, c.ok)
		}
	}
}
