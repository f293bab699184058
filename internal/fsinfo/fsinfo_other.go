//go:build !linux

package fsinfo

import (
	"errors"
	"os"
)

// CanSyncFS: no syncfs(2) here.
const CanSyncFS = false

// SyncFS fails where syncfs(2) is not available.
func SyncFS(*os.File) error { return errors.New("syncfs is not available on this system") }

// JournallessExt4 is false where there is no ext4.
func JournallessExt4(string) bool { return false }
