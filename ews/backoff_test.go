package ews

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBackoff_Delay(t *testing.T) {
	exact := Backoff{Base: time.Second, Max: 10 * time.Second, NoJitter: true}
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := exact.Delay(n, 0); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
	if got := exact.Delay(1000, 0); got != 10*time.Second {
		t.Errorf("Delay(1000) = %v, want the cap", got)
	}
	if got := exact.Delay(0, 3*time.Second); got != 3*time.Second {
		t.Errorf("hint: %v", got)
	}
	if got := exact.Delay(0, time.Hour); got != 5*time.Minute {
		t.Errorf("hint not capped at the default MaxHint: %v", got)
	}
	var zero Backoff
	for n := range 12 {
		d := zero.Delay(n, 0)
		lo, hi := min(time.Second<<n, time.Minute)/2, min(time.Second<<n, time.Minute)
		if d < lo || d > hi {
			t.Fatalf("zero Backoff Delay(%d) = %v outside [%v, %v]", n, d, lo, hi)
		}
	}
	half := Backoff{Jitter: func(d time.Duration) time.Duration { return d / 2 }}
	if got := half.Delay(2, 0); got != 2*time.Second {
		t.Errorf("Jitter not applied: %v", got)
	}
}

func TestBackOffHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want time.Duration
	}{
		{&ResponseError{Code: ErrServerBusy, BackOff: 2 * time.Second}, 2 * time.Second},
		{fmt.Errorf("wrapped: %w", &FaultError{Code: ErrServerBusy, BackOff: time.Second}), time.Second},
		{&HTTPError{StatusCode: 503, RetryAfter: 7 * time.Second}, 7 * time.Second},
		{errors.New("plain"), 0},
		{nil, 0},
	} {
		if got := BackOffHint(tc.err); got != tc.want {
			t.Errorf("BackOffHint(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
