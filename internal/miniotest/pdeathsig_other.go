//go:build !linux

package miniotest

import "os/exec"

func killWithParent(cmd *exec.Cmd) {}
