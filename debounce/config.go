package debounce

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"
)

// Defaults applied to zero Config fields.
const (
	// DefaultQuiet is the default quiet window: a key is delivered once no
	// event has arrived for it for this long.
	DefaultQuiet = 3 * time.Second
	// DefaultMaxDelay is the default maximum delay: a key is delivered at
	// the latest this long after its first pending event, even if events
	// keep arriving.
	DefaultMaxDelay = 15 * time.Second
	// DefaultMaxPending is the default bound on the number of pending keys.
	DefaultMaxPending = 10000
	// MaxWindow is the largest Quiet or MaxDelay that Validate accepts.
	MaxWindow = 7 * 24 * time.Hour
	// DefaultSlackDivisor sets the default Slack to Quiet / DefaultSlackDivisor
	// (300 ms for the default quiet window).
	DefaultSlackDivisor = 10
)

// Config tunes a Debouncer. The zero value, and a nil *Config, mean all
// defaults. Config is copied by New; changing it afterwards has no effect.
type Config struct {
	// Quiet is the quiet window: a key is due once it has received no event
	// for Quiet. Zero means DefaultQuiet (3 s). Negative is invalid.
	Quiet time.Duration

	// MaxDelay bounds how long a key may wait: it is due at the latest
	// MaxDelay after the first event that made it pending, so a key
	// receiving a steady stream is still delivered at least every MaxDelay.
	// Zero means DefaultMaxDelay (15 s). It must not be less than Quiet
	// nor more than MaxWindow.
	MaxDelay time.Duration

	// Slack lets keys that fall due close together travel in one batch:
	// when a batch is cut, every key due within Slack of that moment goes
	// with it, up to Slack early. Zero means Quiet / DefaultSlackDivisor;
	// a negative value means no slack (each key is cut exactly when due).
	// It must be less than Quiet.
	Slack time.Duration

	// MaxPending bounds memory: when an event arrives for a new key while
	// MaxPending keys are already pending, the Debouncer overflows (see the
	// package documentation). Zero means DefaultMaxPending. Negative is
	// invalid.
	MaxPending int

	// Clock is the time source. Nil means SystemClock.
	Clock Clock

	// Logger receives a warning when the Debouncer overflows. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of c (nil allowed) with zero fields replaced
// by their defaults; a negative Slack becomes zero.
func (c *Config) withDefaults() Config {
	var o Config
	if c != nil {
		o = *c
	}
	o.Quiet = cmp.Or(o.Quiet, DefaultQuiet)
	o.MaxDelay = cmp.Or(o.MaxDelay, DefaultMaxDelay)
	o.MaxPending = cmp.Or(o.MaxPending, DefaultMaxPending)
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// effectiveSlack resolves Slack for an already defaulted Quiet.
func (c *Config) effectiveSlack() time.Duration {
	switch {
	case c.Slack < 0:
		return 0
	case c.Slack == 0:
		return c.Quiet / DefaultSlackDivisor
	default:
		return c.Slack
	}
}

// Validate reports whether c, with defaults applied to its zero fields,
// describes a usable Debouncer. A nil *Config is valid. Errors wrap
// ErrInvalidConfig and name the offending field.
func (c *Config) Validate() error {
	if c != nil {
		if c.Quiet < 0 {
			return fmt.Errorf("%w: Quiet is negative (%v)", ErrInvalidConfig, c.Quiet)
		}
		if c.MaxDelay < 0 {
			return fmt.Errorf("%w: MaxDelay is negative (%v)", ErrInvalidConfig, c.MaxDelay)
		}
		if c.Quiet > MaxWindow {
			return fmt.Errorf("%w: Quiet (%v) exceeds MaxWindow (%v)", ErrInvalidConfig, c.Quiet, MaxWindow)
		}
		if c.MaxDelay > MaxWindow {
			return fmt.Errorf("%w: MaxDelay (%v) exceeds MaxWindow (%v)", ErrInvalidConfig, c.MaxDelay, MaxWindow)
		}
		if c.MaxPending < 0 {
			return fmt.Errorf("%w: MaxPending is negative (%d)", ErrInvalidConfig, c.MaxPending)
		}
	}
	o := c.withDefaults()
	if o.MaxDelay < o.Quiet {
		return fmt.Errorf("%w: MaxDelay (%v) is less than Quiet (%v)", ErrInvalidConfig, o.MaxDelay, o.Quiet)
	}
	if s := o.effectiveSlack(); s >= o.Quiet {
		return fmt.Errorf("%w: Slack (%v) is not less than Quiet (%v)", ErrInvalidConfig, s, o.Quiet)
	}
	return nil
}
