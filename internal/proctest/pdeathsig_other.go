//go:build !linux

package proctest

import "os/exec"

func killWithParent(cmd *exec.Cmd) {}
