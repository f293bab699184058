package fsinfo

import "testing"

func TestDeviceOfTakesTheLongestMountPoint(t *testing.T) {
	mounts := "/dev/vda / ext4 rw 0 0\n" +
		"tmpfs /tmp tmpfs rw 0 0\n" +
		"/dev/loop0 /mnt/bench ext4 rw 0 0\n" +
		"/dev/vdb1 /mnt/benchmarks xfs rw 0 0\n"
	for dir, want := range map[string]string{
		"/":                   "vda",
		"/var/spool/hotline":  "vda",
		"/tmp/x":              "", // tmpfs: not ext4
		"/mnt/bench":          "loop0",
		"/mnt/bench/tmp/a":    "loop0",
		"/mnt/benchmarks/rec": "", // xfs, and not under /mnt/bench
	} {
		if got := deviceOf(mounts, dir); got != want {
			t.Errorf("deviceOf(%q) = %q, want %q", dir, got, want)
		}
	}
}
