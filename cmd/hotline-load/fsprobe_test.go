package main

import (
	"os"
	"strings"
	"testing"
)

func TestProbeCreatesMakesAndKeepsItsFiles(t *testing.T) {
	dir := t.TempDir()
	p := probeCreates(dir, 50)
	if p.Err != "" {
		t.Fatal(p.Err)
	}
	ents, err := os.ReadDir(p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 50 {
		t.Fatalf("probe left %d files, want all 50 (it must not delete: deletions are what it measures)", len(ents))
	}
	if p.Median <= 0 || p.P90 < p.Median || p.Mean <= 0 {
		t.Fatalf("timings: median %v p90 %v mean %v", p.Median, p.P90, p.Mean)
	}
	if s := p.String(); !strings.Contains(s, "over 50 empty files") {
		t.Fatalf("report text %q", s)
	}
}

func TestProbeCreatesReportsAnUnwritableDirectory(t *testing.T) {
	p := probeCreates("/nonexistent/hotline-probe", 10)
	if p.Err == "" || !strings.HasPrefix(p.String(), "file-create probe failed") {
		t.Fatalf("probe of a missing directory: %+v", p)
	}
}
