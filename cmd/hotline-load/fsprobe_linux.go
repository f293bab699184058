package main

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// journallessExt4 reports whether dir is on an ext4 file system mounted
// without a journal: the kernel lists every journaled ext4 device under
// /proc/fs/jbd2 (as <device>-8).
func journallessExt4(dir string) bool {
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

// mountDevice is the device name (vda, sda1...) of the mount holding dir,
// from the longest mount point in /proc/self/mounts that contains it.
func mountDevice(dir string) string {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	abs, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	best, dev := -1, ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "ext4" {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, dev = len(mp), filepath.Base(f[0])
		}
	}
	return dev
}
