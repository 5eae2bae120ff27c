package debounce_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/debounce/debouncetest"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// appendIDs is the merge used by the harness: a key's value lists the ids
// of its events in the order they were merged.
func appendIDs(acc, v []int) []int { return append(acc, v...) }

// harness drives a Debouncer[string, []int] on a fake clock and records
// every batch as text: "<time since epoch> key{ids} key{ids}" or
// "<time> overflow(<dropped>)".
type harness struct {
	t     *testing.T
	clock *debouncetest.Clock
	log   *strings.Builder
	d     *debounce.Debouncer[string, []int]
	next  int // id of the next event
	got   []string
	// during[i] lists keys to Add from inside the delivery of batch i.
	during map[int][]string
}

func newHarness(t *testing.T, cfg debounce.Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: debouncetest.NewClock(epoch), next: 1, log: new(strings.Builder)}
	cfg.Clock = h.clock
	cfg.Logger = slog.New(slog.NewTextHandler(h.log, nil))
	d, err := debounce.New(&cfg, appendIDs, h.deliver)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.d = d
	return h
}

func (h *harness) deliver(b debounce.Batch[string, []int]) {
	at := h.clock.Now().Sub(epoch)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%v", at)
	if b.Overflow {
		fmt.Fprintf(&sb, " overflow(%d)", b.Dropped)
		if b.Items != nil {
			h.t.Errorf("overflow batch has items: %v", b.Items)
		}
	}
	for _, it := range b.Items {
		ids := make([]string, len(it.Value))
		for i, id := range it.Value {
			ids[i] = fmt.Sprint(id)
		}
		fmt.Fprintf(&sb, " %s{%s}", it.Key, strings.Join(ids, ","))
		if it.Events != len(it.Value) {
			h.t.Errorf("%s: Events = %d, merged %d values", it.Key, it.Events, len(it.Value))
		}
		if it.Last.Before(it.First) || it.Last.After(h.clock.Now()) {
			h.t.Errorf("%s: First %v, Last %v, delivered at %v", it.Key, it.First, it.Last, h.clock.Now())
		}
	}
	i := len(h.got)
	h.got = append(h.got, sb.String())
	for _, k := range h.during[i] {
		h.add(k)
	}
}

func (h *harness) add(key string) {
	h.t.Helper()
	if err := h.d.Add(key, []int{h.next}); err != nil {
		h.t.Fatalf("Add(%q): %v", key, err)
	}
	h.next++
}

// run executes a script: "+k" adds an event for key k, a duration advances
// the clock, "flush" calls FlushNow and "close" calls Close.
func (h *harness) run(script ...string) {
	h.t.Helper()
	ctx := context.Background()
	for _, s := range script {
		switch {
		case strings.HasPrefix(s, "+"):
			h.add(s[1:])
		case s == "flush":
			if err := h.d.FlushNow(ctx); err != nil {
				h.t.Fatalf("FlushNow: %v", err)
			}
		case s == "close":
			if err := h.d.Close(ctx); err != nil {
				h.t.Fatalf("Close: %v", err)
			}
		default:
			dur, err := time.ParseDuration(s)
			if err != nil {
				h.t.Fatalf("bad script step %q", s)
			}
			h.clock.Advance(dur)
		}
	}
}

// every repeats steps n times.
func every(n int, steps ...string) []string {
	var out []string
	for range n {
		out = append(out, steps...)
	}
	return out
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDebouncer_Timing(t *testing.T) {
	noSlack := debounce.Config{Slack: -1}
	tests := []struct {
		name   string
		cfg    debounce.Config
		during map[int][]string
		script []string
		want   []string
	}{
		{
			name:   "single event waits exactly the quiet window",
			script: []string{"+a", "2999ms", "1ms", "1m"},
			want:   []string{"3s a{1}"},
		},
		{
			name:   "burst is delivered once, quiet after its last event",
			script: []string{"+a", "1s", "+a", "1s", "+a", "2s", "+a", "1m"},
			want:   []string{"7s a{1,2,3,4}"},
		},
		{
			name:   "steady stream is cut at the max delay, then continues",
			script: cat(every(20, "+a", "1s"), []string{"1m"}),
			want: []string{
				"15s a{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}",
				"22s a{16,17,18,19,20}",
			},
		},
		{
			name:   "custom windows",
			cfg:    debounce.Config{Quiet: 100 * time.Millisecond, MaxDelay: 250 * time.Millisecond, Slack: -1},
			script: cat(every(6, "+a", "60ms"), []string{"1s"}),
			want:   []string{"250ms a{1,2,3,4,5}", "400ms a{6}"},
		},
		{
			name:   "keys with different timings are cut separately without slack",
			cfg:    noSlack,
			script: []string{"+a", "500ms", "+b", "500ms", "+c", "1s", "+a", "1m"},
			want:   []string{"3.5s b{2}", "4s c{3}", "5s a{1,4}"},
		},
		{
			name:   "keys due within the slack travel together in first-event order",
			script: []string{"+x", "100ms", "+y", "100ms", "+x", "100ms", "+z", "1m"},
			// y is due first (3.1s); x (3.2s) and z (3.3s) are within the
			// default 300 ms slack; order is that of the first events.
			want: []string{"3.1s x{1,3} y{2} z{4}"},
		},
		{
			name:   "keys due together without slack share a batch",
			cfg:    noSlack,
			script: []string{"+b", "+a", "+c", "+a", "5s"},
			want:   []string{"3s b{1} a{2,4} c{3}"},
		},
		{
			name:   "max-delay key and quiet key due at once, in first-event order",
			cfg:    debounce.Config{Quiet: 3 * time.Second, MaxDelay: 5 * time.Second, Slack: -1},
			script: []string{"+a", "2s", "+b", "500ms", "+a", "2500ms", "+a", "1m"},
			// a: first 0 → max due 5s (quiet due 5.5s); b: quiet due 5s.
			want: []string{"5s a{1,3} b{2}", "8s a{4}"},
		},
		{
			name:   "key cut becomes new on its next event",
			script: []string{"+a", "3s", "+a", "1m"},
			want:   []string{"3s a{1}", "6s a{2}"},
		},
		{
			name:   "overflow drops pending keys and absorbs events until cut",
			cfg:    debounce.Config{MaxPending: 2, Slack: -1},
			script: []string{"+a", "1s", "+b", "+a", "1s", "+c", "1s", "+d", "+a", "1m", "+e", "1m"},
			// a{1,3} b{2} pending at 1s; c overflows at 2s; d and a are
			// swallowed at 3s; due min(3s+3s, 0+15s) = 6s.
			want: []string{"6s overflow(6)", "1m6s e{7}"},
		},
		{
			name:   "overflow respects the max delay of the oldest dropped event",
			cfg:    debounce.Config{MaxPending: 1, Quiet: 3 * time.Second, MaxDelay: 5 * time.Second, Slack: -1},
			script: cat([]string{"+a", "+b"}, every(8, "1s", "+c"), []string{"1m"}),
			want:   []string{"5s overflow(6)", "10s c{7,8,9,10}"},
		},
		{
			name:   "events of existing keys never overflow",
			cfg:    debounce.Config{MaxPending: 2},
			script: []string{"+a", "+b", "+a", "+b", "+a", "1m"},
			want:   []string{"3s a{1,3,5} b{2,4}"},
		},
		{
			name:   "flush-now cuts every pending key at once",
			script: []string{"+a", "1s", "+b", "+a", "flush", "1m", "+c", "1m"},
			want:   []string{"1s a{1,3} b{2}", "1m4s c{4}"},
		},
		{
			name:   "flush-now with nothing pending delivers nothing",
			script: []string{"flush", "+a", "5s", "flush", "1m"},
			want:   []string{"3s a{1}"},
		},
		{
			name:   "flush-now delivers a pending overflow",
			cfg:    debounce.Config{MaxPending: 1},
			script: []string{"+a", "+b", "+c", "flush", "1m"},
			want:   []string{"0s overflow(3)"},
		},
		{
			name:   "close delivers pending keys and stops",
			script: []string{"+a", "1s", "+b", "+a", "close", "1m"},
			want:   []string{"1s a{1,3} b{2}"},
		},
		{
			name:   "events added during delivery go into the next batch",
			during: map[int][]string{0: {"a", "b"}, 1: {"a"}},
			script: []string{"+a", "+b", "1m"},
			want:   []string{"3s a{1} b{2}", "6s a{3} b{4}", "9s a{5}"},
		},
		{
			name:   "events added during a flush wait for their own window",
			during: map[int][]string{0: {"b"}},
			script: []string{"+a", "flush", "2s", "+b", "1m"},
			want:   []string{"0s a{1}", "5s b{2,3}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			h.during = tt.during
			h.run(tt.script...)
			if got, want := strings.Join(h.got, "\n"), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("batches:\n%s\nwant:\n%s", got, want)
			}
			st := h.d.Stats()
			if st.Events != st.Delivered+uint64(st.PendingEvents) {
				t.Errorf("Stats %+v: Events != Delivered + PendingEvents", st)
			}
			if overflowed := strings.Contains(strings.Join(tt.want, " "), "overflow"); overflowed != strings.Contains(h.log.String(), "level=WARN") {
				t.Errorf("overflow expected %v, log:\n%s", overflowed, h.log)
			}
			if st.Batches != uint64(len(h.got)) {
				t.Errorf("Stats.Batches = %d, delivered %d", st.Batches, len(h.got))
			}
		})
	}
}
