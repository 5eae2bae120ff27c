package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mailsync/mailsync/syncengine"
)

// printer writes the engine's events as lines.
type printer struct {
	mu         sync.Mutex
	w          io.Writer
	nb         int
	lastStatus time.Time
	lastItems  map[string]int64
}

func newPrinter(w io.Writer) *printer { return &printer{w: w} }

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// event is Config.OnEvent: it runs on a mailbox goroutine and only formats.
func (p *printer) event(ev syncengine.Event) {
	switch ev.Kind {
	case syncengine.EventInitialSync, syncengine.EventSyncPass:
		b := ev.Batch
		took := b.Committed.Sub(b.Cut)
		rate := float64(b.Changes()) / max(took.Seconds(), 1e-9)
		what := "initial sync"
		if ev.Kind == syncengine.EventSyncPass {
			what = "sync"
		}
		p.line("%s: %d folders, %d item changes in %v (%.0f items/s), %d requests",
			what, len(b.Folders), b.Changes(), took.Round(time.Millisecond), rate, b.Requests)
	case syncengine.EventBatch:
		b := ev.Batch
		p.mu.Lock()
		p.nb++
		n := p.nb
		p.mu.Unlock()
		names := b.Folders
		if b.Hierarchy {
			names = append([]string{"(hierarchy)"}, names...)
		}
		if len(names) == 0 {
			names = []string{"(no mirrored folder)"}
		}
		lat := b.Committed.Sub(b.Cut)
		p.line("batch %d: %d events → %s: %d created, %d updated, %d deleted, %d read flags; committed %v after the cut",
			n, b.Events, strings.Join(names, ", "), b.Created, b.Updated, b.Deleted, b.ReadFlags, lat.Round(time.Millisecond))
	case syncengine.EventRecovery:
		p.line("%s", ev.Recovery.String())
	case syncengine.EventError:
		p.line("backing off: %v", ev.Err)
	case syncengine.EventLocated:
		if l := ev.Location; l.Moved {
			p.line("mailbox %s moved: now served by %s (was %s; cause %s)", ev.Mailbox, l.EwsURL, l.PreviousEwsURL, l.Cause)
		}
	}
}

func (p *printer) status(eng *syncengine.Engine) {
	now := time.Now()
	p.mu.Lock()
	if p.lastItems == nil {
		p.lastItems = map[string]int64{}
	}
	since := now.Sub(p.lastStatus)
	p.lastStatus = now
	p.mu.Unlock()
	m := eng.Metrics()
	for _, s := range eng.Status() {
		last := "never"
		if !s.LastCommit.IsZero() {
			last = now.Sub(s.LastCommit).Round(time.Second).String() + " ago"
		}
		p.mu.Lock()
		rate := 0.0
		if prev, ok := p.lastItems[s.Address]; ok && since > 0 {
			rate = float64(s.ItemsDone-prev) / since.Seconds()
		}
		p.lastItems[s.Address] = s.ItemsDone
		p.mu.Unlock()
		p.line("status %s: %s, %d items applied (%.0f/s), last commit %s, %d recoveries, %d requests",
			s.Address, s.Phase, s.ItemsDone, rate, last, s.Recoveries, s.Requests)
		if s.Err != nil {
			p.line("status %s: last error: %v", s.Address, s.Err)
		}
	}
	if m.Throttles > 0 {
		p.line("status: %d throttled back-offs so far", m.Throttles)
	}
}
