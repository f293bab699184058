// Package deploy ships Hotline's deployment files; the example
// configuration and the survey prompts are embedded so `hotline` runs
// without any file.
package deploy

import (
	"embed"
	"io/fs"
)

//go:embed hotline.example.yaml
var exampleConfig []byte

//go:embed prompts/*/*.wav
var prompts embed.FS

// ExampleConfig returns a copy of deploy/hotline.example.yaml.
func ExampleConfig() []byte { return append([]byte(nil), exampleConfig...) }

// Prompts returns the shipped survey prompts: <language>/<prompt>.wav.
func Prompts() fs.FS {
	sub, err := fs.Sub(prompts, "prompts")
	if err != nil {
		panic(err) // the embedded tree always has prompts/
	}
	return sub
}
