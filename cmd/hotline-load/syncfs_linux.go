package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS writes back the file system holding dir (syncfs), so that its
// deleted inodes' table blocks are clean.
func syncFS(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	defer d.Close()
	_ = unix.Syncfs(int(d.Fd()))
}
