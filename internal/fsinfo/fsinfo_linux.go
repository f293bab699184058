package fsinfo

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// JournallessExt4 reports whether dir is on an ext4 file system mounted
// without a journal. The kernel lists every journaled ext4 device under
// /proc/fs/jbd2 (as <device>-8); an ext4 under /proc/fs/ext4 that is not
// there has none.
func JournallessExt4(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil || st.Type != unix.EXT4_SUPER_MAGIC {
		return false
	}
	dev := mountDevice(dir)
	if dev == "" {
		return false
	}
	if _, err := os.Stat(filepath.Join("/proc/fs/ext4", dev)); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join("/proc/fs/jbd2", dev+"-8"))
	return os.IsNotExist(err)
}

// mountDevice is the device name (vda, sda1, loop0...) of the ext4 mount
// holding dir: the longest mount point in /proc/self/mounts containing it.
func mountDevice(dir string) string {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	return deviceOf(string(data), abs)
}

// deviceOf finds dir's ext4 device in the text of /proc/self/mounts.
func deviceOf(mounts, dir string) string {
	best, dev := -1, ""
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, dev = len(mp), ""
			if f[2] == "ext4" {
				dev = filepath.Base(f[0])
			}
		}
	}
	return dev
}

// CanSyncFS: SyncFS syncs a whole file system with one system call here.
const CanSyncFS = true

// SyncFS writes every dirty page and inode of the file system holding d
// to disk and waits for it (syncfs(2)). It reports a write-back error of
// that file system since the last SyncFS through d (Linux 5.8 and later),
// so a caller that wants those keeps d open between calls.
func SyncFS(d *os.File) error {
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
