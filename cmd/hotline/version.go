package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the build's version, stamped by the Makefile with
// -ldflags "-X main.version=$(git describe)". Unstamped builds fall back
// to the module version and VCS revision Go records (go install
// hotline/cmd/hotline@v1.2.3, or a build from a git checkout).
var version = "dev"

// buildInfo says which build this is.
type buildInfo struct {
	version  string
	revision string
	modified bool
}

func buildVersion() buildInfo {
	b := buildInfo{version: version, revision: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	if b.version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.version = bi.Main.Version
	}
	return b
}

func printVersion(w io.Writer) {
	b := buildVersion()
	rev := b.revision
	if b.modified {
		rev += "-modified"
	}
	fmt.Fprintf(w, "hotline %s (revision %s, %s)\n", b.version, rev, runtime.Version())
}
