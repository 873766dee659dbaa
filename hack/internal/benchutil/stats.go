package benchutil

import (
	"math"
	"sort"
	"time"
)

// Stats returns the minimum, median and maximum (zeros if vals is empty).
func Stats(vals []float64) (lo, med, hi float64) {
	if len(vals) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
}

// Percentile is the nearest-rank p-th percentile (p in (0, 100]), 0 if vals
// is empty.
func Percentile(vals []float64, p float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Column is one figure of every run.
func Column[R any](runs []R, figure func(R) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = figure(r)
	}
	return out
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MiB is b bytes in MiB.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }
