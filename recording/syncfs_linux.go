package recording

import (
	"os"

	"golang.org/x/sys/unix"
)

// canSyncFS: syncFS syncs a whole file system with one system call here.
const canSyncFS = true

// syncFS writes every dirty page and inode of the file system holding d
// to disk and waits for it (syncfs(2)). It reports a write-back error of
// that file system since the last syncFS through d (Linux 5.8 and later),
// so d is kept open between calls.
func syncFS(d *os.File) error {
	for {
		err := unix.Syncfs(int(d.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "syncfs", Path: d.Name(), Err: err}
		}
		return nil
	}
}
