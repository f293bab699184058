package promtest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDeployDirFindsTheRepository(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DeployDir(t), "prometheus", "rules", "hotline.rules.yml")); err != nil {
		t.Fatal(err)
	}
	if len(LoadRules(t).Recording()) == 0 {
		t.Error("no recording rule in the repository's rules file")
	}
	if len(AllPanelQueries(t)) == 0 {
		t.Error("no panel query in the repository's dashboards")
	}
}

func TestVectorNumbers(t *testing.T) {
	v := Vector{
		{Metric: map[string]string{"hour": "9"}, Value: [2]any{1.0, "NaN"}},
		{Metric: map[string]string{"hour": "17"}, Value: [2]any{1.0, "+Inf"}},
	}
	if v.HasNumber() {
		t.Errorf("%v has a number", v)
	}
	v = append(v, Sample{Metric: map[string]string{"hour": "10"}, Value: [2]any{1.0, "2.5"}})
	if !v.HasNumber() || v.ByLabel("hour")["10"] != 2.5 {
		t.Errorf("%v: by hour %v", v, v.ByLabel("hour"))
	}
}

func TestSubstitute(t *testing.T) {
	got := Substitute(`sum(increase(x{queue=~"$queue",segment=~"$segment"}[$__range])) / rate(y[$__rate_interval])`)
	want := `sum(increase(x{queue=~".*",segment=~".*"}[1h])) / rate(y[1m])`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
