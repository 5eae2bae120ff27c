package fakeclock

import (
	"testing"
	"time"
)

func TestFake_AdvanceRunsDueTimersInOrder(t *testing.T) {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	c := New(start)
	var got []string
	var seen []time.Time
	c.AfterFunc(2*time.Second, func() { got = append(got, "b"); seen = append(seen, c.Now()) })
	c.AfterFunc(1*time.Second, func() {
		got = append(got, "a")
		seen = append(seen, c.Now())
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, "a2"); seen = append(seen, c.Now()) })
	})
	stopped := c.AfterFunc(1500*time.Millisecond, func() { got = append(got, "never") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop returned true")
	}
	c.Advance(3 * time.Second)
	want := []string{"a", "a2", "b"}
	if len(got) != len(want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ran %v, want %v", got, want)
		}
	}
	wantAt := []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second}
	for i, d := range wantAt {
		if !seen[i].Equal(start.Add(d)) {
			t.Errorf("timer %d saw %v, want %v", i, seen[i], start.Add(d))
		}
	}
	if !c.Now().Equal(start.Add(3 * time.Second)) {
		t.Errorf("Now = %v", c.Now())
	}
	if c.Pending() != 0 {
		t.Errorf("Pending = %d", c.Pending())
	}
}

func TestFake_NotDueYet(t *testing.T) {
	c := New(time.Unix(0, 0))
	ran := false
	c.AfterFunc(time.Minute, func() { ran = true })
	c.Advance(59 * time.Second)
	if ran {
		t.Fatal("timer ran early")
	}
	if due, ok := c.NextDue(); !ok || !due.Equal(time.Unix(60, 0)) {
		t.Fatalf("NextDue = %v %v", due, ok)
	}
	c.Advance(time.Second)
	if !ran {
		t.Fatal("timer did not run when due")
	}
}
