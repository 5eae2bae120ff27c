package debounce_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce"
)

// model is a deliberately naive reference implementation of the timing
// rules in the package documentation: it scans every key at every step and
// computes when each batch must be cut. The Debouncer, driven on the fake
// clock, must deliver exactly what the model predicts.
type model struct {
	quiet, maxDelay, slack time.Duration
	maxPending             int

	now     time.Duration
	seq     int
	pending map[string]*modelKey

	overflowed      bool
	ovFirst, ovLast time.Duration
	ovEvents        int

	got []string
}

type modelKey struct {
	ids         []int
	first, last time.Duration
	seq         int
}

func (m *model) due(k *modelKey) time.Duration {
	return min(k.last+m.quiet, k.first+m.maxDelay)
}

func (m *model) add(key string, id int) {
	if m.overflowed {
		m.ovEvents++
		m.ovLast = m.now
		return
	}
	if k := m.pending[key]; k != nil {
		k.ids = append(k.ids, id)
		k.last = m.now
		return
	}
	if len(m.pending) >= m.maxPending {
		m.overflowed = true
		m.ovFirst, m.ovLast, m.ovEvents = m.now, m.now, 1
		for _, k := range m.pending {
			m.ovFirst = min(m.ovFirst, k.first)
			m.ovEvents += len(k.ids)
		}
		clear(m.pending)
		return
	}
	m.seq++
	m.pending[key] = &modelKey{ids: []int{id}, first: m.now, last: m.now, seq: m.seq}
}

func (m *model) nextDue() (time.Duration, bool) {
	if m.overflowed {
		return min(m.ovLast+m.quiet, m.ovFirst+m.maxDelay), true
	}
	var due time.Duration
	ok := false
	for _, k := range m.pending {
		if d := m.due(k); !ok || d < due {
			due, ok = d, true
		}
	}
	return due, ok
}

func (m *model) advance(d time.Duration) {
	end := m.now + d
	for {
		due, ok := m.nextDue()
		if !ok || due > end {
			break
		}
		m.now = max(m.now, due)
		m.cut(false)
	}
	m.now = end
}

func (m *model) cut(all bool) {
	if m.overflowed {
		m.got = append(m.got, fmt.Sprintf("%v overflow(%d)", m.now, m.ovEvents))
		m.overflowed = false
		return
	}
	type kv struct {
		key string
		k   *modelKey
	}
	var cut []kv
	for key, k := range m.pending {
		if all || m.due(k) <= m.now+m.slack {
			cut = append(cut, kv{key, k})
		}
	}
	if len(cut) == 0 {
		return
	}
	slices.SortFunc(cut, func(a, b kv) int { return cmp.Compare(a.k.seq, b.k.seq) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%v", m.now)
	for _, c := range cut {
		ids := make([]string, len(c.k.ids))
		for i, id := range c.k.ids {
			ids[i] = fmt.Sprint(id)
		}
		fmt.Fprintf(&sb, " %s{%s}", c.key, strings.Join(ids, ","))
		delete(m.pending, c.key)
	}
	m.got = append(m.got, sb.String())
}

var modelDurations = [16]time.Duration{
	0, time.Millisecond, 10 * time.Millisecond, 99 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 499 * time.Millisecond, 500 * time.Millisecond,
	900 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second,
	2999 * time.Millisecond, 3 * time.Second, 7 * time.Second, 20 * time.Second,
}

// checkModel decodes a Config from the first two bytes of prog and one
// operation from each further byte, runs them on a Debouncer and on the
// model, and compares what each delivered.
func checkModel(t *testing.T, prog []byte) {
	t.Helper()
	if len(prog) < 2 {
		return
	}
	quiet := []time.Duration{time.Second, 3 * time.Second}[prog[0]&1]
	maxDelay := quiet * []time.Duration{1, 2, 5, 5}[prog[0]>>1&3]
	slack := []time.Duration{-1, 0, quiet / 2, quiet / 3}[prog[0]>>3&3]
	maxPending := []int{1, 2, 3, 5, 1000, 1000, 1000, 1000}[prog[1]&7]
	cfg := debounce.Config{Quiet: quiet, MaxDelay: maxDelay, Slack: slack, MaxPending: maxPending}
	m := &model{quiet: quiet, maxDelay: maxDelay, slack: slack, maxPending: maxPending, pending: map[string]*modelKey{}}
	switch {
	case slack < 0:
		m.slack = 0
	case slack == 0:
		m.slack = quiet / debounce.DefaultSlackDivisor
	}
	h := newHarness(t, cfg)
	var trace []string
	for _, b := range prog[2:] {
		switch op := b & 7; {
		case op < 4:
			key := string(rune('a' + b>>3&7))
			trace = append(trace, "+"+key)
			m.add(key, h.next)
			h.add(key)
		case op < 7:
			d := modelDurations[b>>3&15]
			trace = append(trace, d.String())
			m.advance(d)
			h.clock.Advance(d)
		default:
			trace = append(trace, "flush")
			m.cut(true)
			h.run("flush")
		}
	}
	h.run("close")
	m.cut(true)
	if got, want := strings.Join(h.got, "\n"), strings.Join(m.got, "\n"); got != want {
		t.Fatalf("config %+v, script %q\nbatches:\n%s\nmodel:\n%s", cfg, trace, got, want)
	}
	if st := h.d.Stats(); st.Events != uint64(h.next-1) || st.Delivered != st.Events || st.PendingEvents != 0 {
		t.Fatalf("after Close: Stats = %+v, %d events added", st, h.next-1)
	}
}

func TestDebouncer_Model(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 0x6465626f756e6365))
		prog := make([]byte, 2+r.IntN(300))
		for i := range prog {
			prog[i] = byte(r.Uint32())
		}
		checkModel(t, prog)
	}
}

func FuzzDebouncer_Model(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 16, 0x6c, 0x7c})
	f.Add([]byte{0x1b, 0x01, 0, 8, 16, 24, 0x44, 0x07, 0x3c, 0x74})
	f.Add([]byte{0x0a, 0x04, 0, 0x4c, 8, 0x4c, 0, 0x6c, 0x7e})
	f.Fuzz(func(t *testing.T, prog []byte) {
		checkModel(t, prog)
	})
}
