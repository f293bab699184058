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

// HistogramCount returns how many observations histogram name in g holds
// (every series together) and their sum.
func HistogramCount(t testing.TB, g prometheus.Gatherer, name string) (count uint64, sum float64) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			count += s.GetHistogram().GetSampleCount()
			sum += s.GetHistogram().GetSampleSum()
		}
	}
	return count, sum
}

// HistogramCountLabel is HistogramCount over the series whose label has
// value.
func HistogramCountLabel(t testing.TB, g prometheus.Gatherer, name, label, value string) (count uint64) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					count += s.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return count
}
