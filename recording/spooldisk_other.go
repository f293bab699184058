//go:build !unix

package recording

import "errors"

// SpoolDisk is not available on this system.
func (m *Manager) SpoolDisk() (free, size uint64, err error) {
	return 0, 0, errors.New("recording: spool disk space is not known on this system")
}
