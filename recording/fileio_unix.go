//go:build unix

package recording

import (
	"io/fs"
	"os"
	"syscall"
)

// openFile is os.OpenFile for a spool or store file, with fewer system
// calls: os.OpenFile makes every file non-blocking and offers it to the
// runtime's poller (on Linux four fcntl calls and an epoll_ctl that fails
// for a regular file, per file), while os.NewFile on a blocking
// descriptor asks one fcntl. Reads and writes are the same.
func openFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// renameFile is os.Rename without its Lstat of the destination (which
// only matters when the destination is a directory; ours never is).
func renameFile(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// fsyncDir syncs the directory dir (its entries: creations, renames,
// removals) with open, fsync and close.
func fsyncDir(dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	err = syscall.Fsync(fd)
	for err == syscall.EINTR {
		err = syscall.Fsync(fd)
	}
	if cerr := syscall.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}
