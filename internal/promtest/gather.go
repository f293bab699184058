package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series returns the series of metric name in g, those whose label has
// value when label is not empty.
func series(t testing.TB, g prometheus.Gatherer, name, label, value string) []*dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if label == "" {
				out = append(out, s)
				continue
			}
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// CounterSum sums the samples of counter name in g whose label has value.
func CounterSum(t testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	var n float64
	for _, s := range series(t, g, name, label, value) {
		n += s.GetCounter().GetValue()
	}
	return n
}

// GaugeSum sums the samples of gauge name in g (every series).
func GaugeSum(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	var n float64
	for _, s := range series(t, g, name, "", "") {
		n += s.GetGauge().GetValue()
	}
	return n
}

// HistogramCount returns how many observations histogram name in g holds
// (every series together) and their sum.
func HistogramCount(t testing.TB, g prometheus.Gatherer, name string) (count uint64, sum float64) {
	t.Helper()
	for _, s := range series(t, g, name, "", "") {
		count += s.GetHistogram().GetSampleCount()
		sum += s.GetHistogram().GetSampleSum()
	}
	return count, sum
}

// HistogramCountLabel is HistogramCount's count over the series whose
// label has value.
func HistogramCountLabel(t testing.TB, g prometheus.Gatherer, name, label, value string) (count uint64) {
	t.Helper()
	for _, s := range series(t, g, name, label, value) {
		count += s.GetHistogram().GetSampleCount()
	}
	return count
}
