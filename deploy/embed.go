// Package deploy ships Hotline's deployment files; the example
// configuration is embedded so `hotline` runs without any file.
package deploy

import _ "embed"

//go:embed hotline.example.yaml
var exampleConfig []byte

// ExampleConfig returns a copy of deploy/hotline.example.yaml.
func ExampleConfig() []byte { return append([]byte(nil), exampleConfig...) }
