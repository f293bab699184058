package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSetAsideKeepsTheFiles(t *testing.T) {
	root := t.TempDir()
	dir, into := filepath.Join(root, "recordings"), filepath.Join(root, "aside")
	for step := 1; step <= 2; step++ {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.wav"), []byte{byte(step)}, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := setAside(dir, into); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("step %d: %s still there (%v)", step, dir, err)
		}
	}
	for step, name := range []string{"recordings.done1", "recordings.done2"} {
		b, err := os.ReadFile(filepath.Join(into, name, "a.wav"))
		if err != nil || len(b) != 1 || int(b[0]) != step+1 {
			t.Fatalf("%s: %v %v, want step %d's file", name, b, err, step+1)
		}
	}
	if err := setAside(dir, into); err != nil { // nothing to set aside
		t.Fatal(err)
	}
}
