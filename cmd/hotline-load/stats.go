package main

import (
	"math"
	"math/bits"
	"sort"
	"time"
)

// Summary is what the report shows of a figure measured several times.
type Summary struct {
	N                int
	Min, Median, Max float64
	Values           []float64 // in measurement order
}

// Summarize returns min/median/max of xs (the median of an even count is
// the mean of the two middle values). NaNs are ignored.
func Summarize(xs []float64) Summary {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	s := Summary{N: len(v), Values: append([]float64(nil), v...)}
	if len(v) == 0 {
		s.Min, s.Median, s.Max = math.NaN(), math.NaN(), math.NaN()
		return s
	}
	sort.Float64s(v)
	s.Min, s.Max = v[0], v[len(v)-1]
	if len(v)%2 == 1 {
		s.Median = v[len(v)/2]
	} else {
		s.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return s
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// xs, which it sorts in place. It returns NaN for no values.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sort.Float64s(xs)
	return xs[rank(len(xs), p)]
}

// DurationPercentile is Percentile for durations; 0 for no values.
func DurationPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[rank(len(ds), p)]
}

// rank is the 0-based index of the nearest-rank p-th percentile of n values.
func rank(n int, p float64) int {
	r := int(math.Ceil(p/100*float64(n))) - 1
	return min(max(r, 0), n-1)
}

// Histogram counts non-negative microsecond values: exact up to
// histLinear µs, then 64 buckets per power of two (under 1.6% error). The
// maximum is kept exactly. The zero value is ready to use; it is not safe
// for concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const (
	histLinear  = 4096 // 1 µs buckets below this
	histSub     = 64   // buckets per power of two above
	histMaxExp  = 40   // values of 2^41 µs and more share the last bucket
	histBuckets = histLinear + (histMaxExp-12+1)*histSub
)

func histBucket(us int64) int {
	if us < histLinear {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 1 // >= 12
	if e > histMaxExp {
		return histBuckets - 1
	}
	sub := int(us>>(e-6)) & (histSub - 1)
	return histLinear + (e-12)*histSub + sub
}

// histLow is the smallest value of bucket i.
func histLow(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	j := i - histLinear
	e := j/histSub + 12
	return 1<<e + int64(j%histSub)<<(e-6)
}

// Add counts one value.
func (h *Histogram) Add(us int64) {
	us = max(us, 0)
	h.counts[histBucket(us)]++
	h.n++
	if us > h.max {
		h.max = us
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count is the number of values added.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value added (0 if none).
func (h *Histogram) Max() int64 { return h.max }

// Percentile returns the nearest-rank p-th percentile: the low end of its
// bucket, or Max when it falls in Max's bucket. 0 if empty.
func (h *Histogram) Percentile(p float64) int64 {
	if h.n == 0 {
		return 0
	}
	want := uint64(rank(int(h.n), p)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= want {
			if i == histBucket(h.max) {
				return h.max // exact for the top bucket (p100 is the max)
			}
			return histLow(i)
		}
	}
	return h.max
}
