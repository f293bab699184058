package promtest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig kills the child if the test process dies without cleanup.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
