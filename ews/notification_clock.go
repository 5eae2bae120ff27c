package ews

import "time"

// NotificationClock is the time source of the streaming connection's read
// timeout and reconnect back-off and of the push listener's liveness
// tracking. Tests inject a fake one (for instance an adapter over
// ewstest/fakeclock) and advance it instead of sleeping.
type NotificationClock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f on its own goroutine once d has elapsed, and
	// returns a function that cancels the call if it has not run yet
	// (reporting whether it did so).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realNotificationClock is the wall clock.
type realNotificationClock struct{}

func (realNotificationClock) Now() time.Time { return time.Now() }

func (realNotificationClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// ntfClockOrReal returns c, or the wall clock when c is nil.
func ntfClockOrReal(c NotificationClock) NotificationClock {
	if c == nil {
		return realNotificationClock{}
	}
	return c
}
