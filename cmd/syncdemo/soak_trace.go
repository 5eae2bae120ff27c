package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/syncengine"
)

// soakTraceCap bounds the trace: at 100 changes a second it holds the
// last quarter of an hour.
const soakTraceCap = 100000

// soakTrace keeps the soak's recent history (the activity's changes, the
// faults, the engine's batches and recoveries) so that a failed
// convergence can say what led to it. It is safe for concurrent use.
type soakTrace struct {
	mu      sync.Mutex
	entries []traceEntry // a ring of soakTraceCap
	next    int
}

type traceEntry struct {
	at   time.Time
	item string // the item an activity change concerns
	text string
}

func (t *soakTrace) add(item, text string) {
	e := traceEntry{at: time.Now(), item: item, text: text}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) < soakTraceCap {
		t.entries = append(t.entries, e)
		return
	}
	t.entries[t.next] = e
	t.next = (t.next + 1) % soakTraceCap
}

// change records an activity change.
func (t *soakTrace) change(ch ewstest.ActivityChange) {
	key := ch.ItemID
	if key == "" {
		key = ch.FolderID // a folder change
	}
	t.add(key, fmt.Sprintf("activity %s item %s in folder %s", ch.Kind, ch.ItemID, ch.FolderID))
}

// event records an engine event worth reading after a failure.
func (t *soakTrace) event(ev syncengine.Event) {
	switch {
	case ev.Recovery != nil:
		t.add("", fmt.Sprintf("%v (started %s)", *ev.Recovery, ev.Recovery.Started.Format("15:04:05.000")))
	case ev.Batch != nil:
		t.add("", fmt.Sprintf("batch of %d events: hierarchy %v, folders %s, %d changes", ev.Batch.Events, ev.Batch.Hierarchy, strings.Join(ev.Batch.Folders, ", "), ev.Batch.Changes()))
	case ev.Err != nil:
		t.add("", fmt.Sprintf("engine error: %v", ev.Err))
	}
}

// explain writes the history that bears on the failure described by
// failure: every fault, batch and recovery since since, and every change
// the trace holds to the items and folders it names.
func (t *soakTrace) explain(w io.Writer, since time.Time, failure string) {
	t.mu.Lock()
	ordered := append(append([]traceEntry(nil), t.entries[t.next:]...), t.entries[:t.next]...)
	t.mu.Unlock()
	fmt.Fprintf(w, "history (engine events since %s):\n", since.Format("15:04:05.000"))
	for _, e := range ordered {
		if e.item == "" && e.at.Before(since) || e.item != "" && !strings.Contains(failure, e.item) {
			continue
		}
		fmt.Fprintf(w, "  %s %s\n", e.at.Format("15:04:05.000"), e.text)
	}
}
