package ews

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential back-off with jitter, the one back-off
// rule of the client: RetryPolicy's waits after ErrorServerBusy, 503, 429
// and network errors, and StreamingConnection's waits between failed
// reconnects, are Backoff values. It is exported so that the sync engine
// and recovery wait the same way.
//
// Wait number n (from 0, the wait after the first failure) is Base·2ⁿ,
// capped at Max, then jittered; a server hint (BackOffMilliseconds or
// Retry-After, see BackOffHint), when given, is honoured instead, capped at
// MaxHint and not jittered. The zero value takes the defaults named on
// each field. A Backoff holds no state and is safe for concurrent use.
type Backoff struct {
	// Base is the first computed delay. Default 1 s.
	Base time.Duration
	// Max caps computed delays. Default 1 min.
	Max time.Duration
	// MaxHint caps a server hint. Default 5 min.
	MaxHint time.Duration
	// Jitter maps a computed delay to the delay actually waited. Nil
	// means uniform in [d/2, d].
	Jitter func(d time.Duration) time.Duration
	// NoJitter waits computed delays exactly (for tests, and for callers
	// whose waits need not be spread).
	NoJitter bool
}

// Delay returns how long to wait after n+1 consecutive failures (n from
// 0), given the server's hint (zero if none).
func (b Backoff) Delay(n int, hint time.Duration) time.Duration {
	if hint > 0 {
		maxHint := b.MaxHint
		if maxHint <= 0 {
			maxHint = 5 * time.Minute
		}
		return min(hint, maxHint)
	}
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if maxd <= 0 {
		maxd = time.Minute
	}
	d := base
	for i := 0; i < n && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	switch {
	case b.NoJitter:
		return d
	case b.Jitter != nil:
		return b.Jitter(d)
	}
	return d/2 + rand.N(d/2+1)
}

// BackOffHint returns the delay the server asked for in err: the
// BackOffMilliseconds of a *ResponseError or *FaultError, or the
// Retry-After of an *HTTPError; zero when it gave none.
func BackOffHint(err error) time.Duration {
	var re *ResponseError
	if errors.As(err, &re) && re.BackOff > 0 {
		return re.BackOff
	}
	var fe *FaultError
	if errors.As(err, &fe) && fe.BackOff > 0 {
		return fe.BackOff
	}
	var he *HTTPError
	if errors.As(err, &he) && he.RetryAfter > 0 {
		return he.RetryAfter
	}
	return 0
}
