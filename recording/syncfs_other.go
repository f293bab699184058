//go:build !linux

package recording

import (
	"errors"
	"os"
)

// canSyncFS: no syncfs(2) here; Finish syncs each spool file itself.
const canSyncFS = false

func syncFS(*os.File) error { return errors.New("syncfs is not available on this system") }
