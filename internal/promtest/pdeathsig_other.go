//go:build !linux

package promtest

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
