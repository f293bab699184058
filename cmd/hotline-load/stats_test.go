package main

import (
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, math.NaN(), 3, 10})
	if s.N != 4 || s.Min != 1 || s.Max != 10 || s.Median != 4 {
		t.Errorf("Summarize = %+v, want N 4, min 1, median 4, max 10", s)
	}
	if s := Summarize([]float64{7, 2, 9}); s.Median != 7 {
		t.Errorf("odd count median = %v, want 7", s.Median)
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("empty = %+v, want NaNs", s)
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	for _, c := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {0.1, 1}} {
		if got := Percentile(xs, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
	ds := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	if got := DurationPercentile(ds, 50); got != 2*time.Millisecond {
		t.Errorf("duration p50 = %v", got)
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in a bucket whose low end is <= it and within 1/64.
	for _, v := range []int64{0, 1, 4095, 4096, 4097, 5000, 65535, 1 << 20, 123456789, 1 << 40} {
		b := histBucket(v)
		lo := histLow(b)
		if lo > v || float64(v-lo) > float64(v)/64+1 {
			t.Errorf("value %d: bucket %d low %d", v, b, lo)
		}
		if b+1 < histBuckets && histLow(b+1) <= v {
			t.Errorf("value %d: next bucket %d low %d is not above it", v, b+1, histLow(b+1))
		}
	}
	if histBucket(1<<50) != histBuckets-1 {
		t.Error("huge value not in the last bucket")
	}
}

func TestHistogramPercentile(t *testing.T) {
	var h Histogram
	if h.Percentile(99) != 0 {
		t.Error("empty histogram percentile not 0")
	}
	for i := int64(1); i <= 1000; i++ {
		h.Add(i)
	}
	h.Add(-5) // counted as 0
	if h.Count() != 1001 || h.Max() != 1000 {
		t.Errorf("count %d max %d", h.Count(), h.Max())
	}
	if got := h.Percentile(50); got != 500 {
		t.Errorf("p50 = %d, want 500", got)
	}
	var o Histogram
	o.Add(100000)
	h.Merge(&o)
	if got := h.Percentile(100); got != 100000 {
		t.Errorf("p100 after merge = %d, want the exact max 100000", got)
	}
	// 1002 values: 0, 1..1000, 100000; the 992nd smallest is 991.
	if got := h.Percentile(99); got != 991 {
		t.Errorf("p99 = %d, want 991", got)
	}
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 {
		t.Error("Reset left values")
	}
}
