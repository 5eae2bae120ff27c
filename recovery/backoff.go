package recovery

import (
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential back-off with jitter: attempt n (from 0)
// waits Base·2ⁿ, capped at Max, scaled by a random factor in [1/2, 1]; a
// server hint, when given, is honoured instead (capped at MaxHint).
// The zero value uses the defaults named on each field.
type Backoff struct {
	// Base is the first delay. Default 1 s.
	Base time.Duration
	// Max caps computed delays. Default 1 min.
	Max time.Duration
	// MaxHint caps a server hint. Default 5 min.
	MaxHint time.Duration
	// NoJitter disables the random factor (for tests).
	NoJitter bool
}

// Delay returns how long to wait before attempt n+1 after attempt n failed,
// given the server's hint (zero if none).
func (b Backoff) Delay(n int, hint time.Duration) time.Duration {
	base, maxd, maxHint := b.Base, b.Max, b.MaxHint
	if base <= 0 {
		base = time.Second
	}
	if maxd <= 0 {
		maxd = time.Minute
	}
	if maxHint <= 0 {
		maxHint = 5 * time.Minute
	}
	if hint > 0 {
		return min(hint, maxHint)
	}
	d := base
	for i := 0; i < n && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	if !b.NoJitter {
		d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	}
	return d
}
