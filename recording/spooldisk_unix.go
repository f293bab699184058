//go:build unix

package recording

import "syscall"

// SpoolDisk returns the free space (for unprivileged users) and the size
// of the file system holding the spool, in bytes.
func (m *Manager) SpoolDisk() (free, size uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.cfg.SpoolDir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize) // int64 on Linux, uint32 on some BSDs
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}
