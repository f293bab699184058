//go:build !linux

package fsinfo

// JournallessExt4 is false where there is no ext4.
func JournallessExt4(string) bool { return false }
