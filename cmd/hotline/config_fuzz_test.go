package main

import (
	"strings"
	"testing"

	"hotline/deploy"
)

// FuzzParseConfig: any configuration file is either accepted or rejected
// with errors that each name the file; nothing panics.
func FuzzParseConfig(f *testing.F) {
	f.Add(string(deploy.ExampleConfig()))
	f.Add("sip:\n  listen:\n    - {transport: tls, addr: 127.0.0.1:0}\n")
	f.Add("hotlines: [{number: '1'}]\nagents: [{username: a, password: b}]\nrtp: {port_min: 1, port_max: 0}\n")
	f.Add("queue: {ring_timeout: -1s}\nrecording: {backend: s3}\n")
	f.Add("sip: [\n")
	f.Fuzz(func(t *testing.T, data string) {
		c, err := parseConfig("fuzz.yaml", []byte(data))
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		if len(c.Hotlines) == 0 {
			t.Fatal("accepted a configuration without hotline numbers")
		}
	})
}
