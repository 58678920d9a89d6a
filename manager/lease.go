package manager

import "time"

// Leader election timings follow --leader-election-lease-duration.
// client-go requires leaseDuration > renewDeadline > 1.2 × retryPeriod,
// and controller-runtime's fixed defaults (10s renew deadline, 2s retry
// period) fail that for any lease shorter than 10s. Scaling both with the
// lease keeps those defaults at the default 15s lease and makes a short
// lease mean a fast takeover: a standby that saw the last renewal acquires
// the lease at most one retry period after it expires.

// renewDeadline is how long a leader keeps retrying to renew before it
// gives leadership up: two thirds of the lease (10s of 15s).
func renewDeadline(lease time.Duration) time.Duration { return lease * 2 / 3 }

// retryPeriod is how often candidates try to acquire or renew: 2/15 of
// the lease (2s of 15s).
func retryPeriod(lease time.Duration) time.Duration { return lease * 2 / 15 }
