package main

import (
	"slices"
	"time"
)

// latencies are per-call durations of one measurement.
type latencies []time.Duration

// percentile returns the p-th percentile (0-100), nearest rank.
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (l latencies) p50() time.Duration { return l.percentile(50) }
func (l latencies) p99() time.Duration { return l.percentile(99) }

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
