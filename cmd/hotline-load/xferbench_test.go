package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestXferHarness runs the transfer and monitoring part for real, small:
// Hotline with supervisors, four bridged calls from the Go generator,
// each transferred through the API to a free agent (the target's leg
// comes up), then two monitored in listen and two in barge through the
// API (each supervisor's phone rung and joined), and Hotline idle after.
func TestXferHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Hotline and places calls")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "hotline")
	if out, err := exec.Command("go", "build", "-o", bin, "../hotline").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hotline: %v\n%s", err, out)
	}
	pr := &procs{}
	defer pr.stopAll()
	d := &driver{cfg: benchConfig{Xfer: xferConfig{Calls: 4, Window: time.Second, Windows: 1, TransferRate: 10, Budget: 90 * time.Second}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), pr: pr, work: work, bin: bin, res: &results{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.xferFigures(ctx); err != nil {
		t.Fatal(err)
	}
	r := d.res.Xfer
	if r.Bridged != 4 || r.Transfers != 4 || len(r.TransferLatency) != 4 || len(r.TransferErrs) != 0 {
		t.Errorf("transfers: %d calls bridged, %d asked, %d completed, not completed %v; want 4 each", r.Bridged, r.Transfers,
			len(r.TransferLatency), r.TransferErrs)
	}
	if r.ListenN != 2 || r.BargeN != 2 || len(r.MonitorErrs) != 0 || len(r.MonitorSetup) != 4 {
		t.Errorf("monitoring: %d in listen, %d in barge, refused %v; want 2 and 2", r.ListenN, r.BargeN, r.MonitorErrs)
	}
	for _, c := range []float64{r.BaseCores, r.Base2Cores, r.ListenCores, r.BargeCores} {
		if math.IsNaN(c) || c <= 0 {
			t.Errorf("Hotline CPU %v over a window with calls, want > 0", c)
		}
	}
	if len(d.res.Notes) > 0 {
		t.Errorf("notes: %v", d.res.Notes)
	}
}

// The part's figures: CPU per monitored call from the windows' CPU, per
// transfer from the extra CPU and the completed transfers.
func TestXferReport(t *testing.T) {
	r := &xferResults{Cfg: defaultXferConfig(true), Bridged: 40, BaseCores: 0.2, Base2Cores: 0.2, ListenCores: 0.24, BargeCores: 0.34,
		ListenN: 20, BargeN: 20, Transfers: 40, TransferCPU: 200 * time.Millisecond, TransferWindow: 5 * time.Second,
		TransferLatency: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond},
		MonitorSetup:    []time.Duration{12 * time.Millisecond}, MonitorErrs: map[string]int{"answered 409 conflict": 1}}
	want := map[string]float64{"listen": 2, "barge": 5, "plain two-party": 5, "per blind transfer": 50, "p50": 20}
	for _, f := range r.figures() {
		for k, v := range want {
			if strings.Contains(f.Name, k) && !strings.Contains(f.Name, "monitoring through") {
				if math.Abs(f.S.Median-v) > 1e-9 {
					t.Errorf("%s: %v, want %v", f.Name, f.S.Median, v)
				}
				delete(want, k)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("figures missing: %v", want)
	}
	var b bytes.Buffer
	writeFigures(&b, r.figures())
	r.writeDetails(&b)
	for _, s := range []string{"| T1 |", "| M1 |", "| M2 |", "answered 409 conflict ×1", "| and 20 more in barge | 40 | 0.340 |"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
	cfg := hotlineConfig("/tmp/x", 5070, 8090, 9470, hotlineOpts{Agents: 1, Supervisors: 2})
	if !strings.Contains(cfg, "{username: s00001, password: pw-s00001, role: supervisor}") || strings.Contains(cfg, "s00002") {
		t.Errorf("config's supervisors:\n%s", cfg)
	}
}
