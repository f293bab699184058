package main

import (
	"encoding/binary"
	"os/exec"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestKernelRxTime(t *testing.T) {
	oob := make([]byte, syscall.CmsgSpace(16))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS
	h.SetLen(syscall.CmsgLen(16))
	binary.NativeEndian.PutUint64(oob[syscall.CmsgLen(0):], 12)
	binary.NativeEndian.PutUint64(oob[syscall.CmsgLen(0)+8:], 345)
	got, ok := kernelRxTime(oob)
	if !ok || got != 12_000_000_345 {
		t.Errorf("kernelRxTime = %d, %v; want 12000000345", got, ok)
	}
	if _, ok := kernelRxTime(nil); ok {
		t.Error("timestamp found in no control data")
	}
	h.Type = syscall.SCM_RIGHTS
	if _, ok := kernelRxTime(oob); ok {
		t.Error("timestamp found in another control message")
	}
}

// ProcTreeCPU counts the CPU a process's children use, as Kamailio's
// workers do the edge's work: a shell whose child spins.
func TestProcTreeCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the shell's group: it and its spinning child
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		own, err1 := ProcCPU(cmd.Process.Pid)
		tree, err2 := ProcTreeCPU(cmd.Process.Pid)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if tree >= own+50*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tree CPU %v, the shell's own %v: the child's CPU is not counted", tree, own)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
