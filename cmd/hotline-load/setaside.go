package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// setAside moves a finished step's store directory out of the way (renamed
// into the directory into, as <base>.doneN; into must be outside the tree
// the next step's files are counted in) so the next step counts only its
// own files. It
// does not delete it: the benchmark's work directory, and so every step's
// files, is removed once, at the end of the run.
//
// Deleting thousands of files between steps made the next step's files
// dearer to create than on any production host: ext4 without a journal
// (this VM's root file system) will not reuse an inode freed less than 60 s
// ago, and every create then walks past each of them. A contact centre's
// store only grows during the day (its retention sweep frees recordings
// days old), so the benchmark keeps its files too.
func setAside(dir, into string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(into, 0o750); err != nil {
		return fmt.Errorf("set aside %s: %w", dir, err)
	}
	for i := 1; i < 10000; i++ {
		to := filepath.Join(into, fmt.Sprintf("%s.done%d", filepath.Base(dir), i))
		if _, err := os.Lstat(to); err == nil {
			continue
		}
		if err := os.Rename(dir, to); err != nil {
			return fmt.Errorf("set aside %s: %w", dir, err)
		}
		return nil
	}
	return fmt.Errorf("set aside %s: no free name", dir)
}
