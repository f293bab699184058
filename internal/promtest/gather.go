package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// CounterSum sums the samples of counter name in g whose label has value.
func CounterSum(t testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n += s.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
