package syncengine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/recovery"
)

func kindOf(k ews.SubscriptionKind) localstore.SubscriptionKind {
	switch k {
	case ews.Streaming:
		return localstore.Streaming
	case ews.Pull:
		return localstore.Pull
	case ews.Push:
		return localstore.Push
	}
	return localstore.NoSubscription
}

// lossAction is what an error reported by a notification source calls
// for: a new subscription when the subscription is gone (or the source
// dropped it: removed), MailboxMoved for a move, and otherwise a
// comparison, since the events it stood for may be lost.
func lossAction(err error, removed bool) recovery.Action {
	switch a := recovery.Classify(err); {
	case a == recovery.MailboxMoved, a == recovery.Resubscribe:
		return a
	case removed && a != recovery.CompareOnly:
		return recovery.Resubscribe
	}
	return recovery.CompareOnly
}

// subscribe opens a fresh all-folders subscription of the mailbox's kind
// (no watermark), attaches it to its notification source and stores its id
// at once, so that a crash before the next commit still lets the next
// start unsubscribe it.
func (m *mailbox) subscribe(ctx context.Context) error {
	if err := m.e.subSem.Acquire(ctx, 1); err != nil {
		return err
	}
	defer m.e.subSem.Release(1)
	req := &ews.SubscribeRequest{AllFolders: true, Group: m.cfg.Group}
	var cb *ews.PushCallback
	switch m.cfg.Mode {
	case Streaming:
		req.Kind = ews.Streaming
	case Pull:
		req.Kind = ews.Pull
		req.Timeout = m.e.cfg.PullTimeout
	case Push:
		p, err := m.e.pushHub()
		if err != nil {
			return err
		}
		req.Kind = ews.Push
		cb = p.l.Expect()
		req.URL = cb.URL(p.base)
		req.StatusFrequency = m.e.cfg.Push.StatusFrequency
	}
	sub, err := m.remote.Subscribe(ctx, req)
	if err != nil {
		if cb != nil {
			cb.Release()
		}
		return fmt.Errorf("subscribe: %w", err)
	}
	m.subMu.Lock()
	m.sub, m.watermark, m.lastEvent = sub, sub.Watermark, m.e.cfg.Clock.Now()
	m.subMu.Unlock()
	var stop func()
	switch m.cfg.Mode {
	case Streaming:
		stop, err = m.e.streams.add(m, sub)
	case Pull:
		stop = m.startPull(sub)
	case Push:
		p, _ := m.e.pushHub()
		stop, err = p.register(m, sub, cb)
		cb.Release()
	}
	if err != nil {
		m.subMu.Lock()
		m.sub = nil
		m.subMu.Unlock()
		m.dropStored(ctx, localstore.Subscription{Kind: kindOf(sub.Kind), ID: sub.ID})
		return err
	}
	m.subMu.Lock()
	m.stopSource = stop
	m.subMu.Unlock()
	return m.e.store.Apply(ctx, localstore.Batch{Mailbox: m.mb, Subscription: m.subState()})
}

// startPull runs the GetEvents loop of a pull subscription on a goroutine
// the mailbox owns; the returned function stops it and waits.
func (m *mailbox) startPull(sub *ews.Subscription) func() {
	ctx, cancel := context.WithCancel(m.e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.pullLoop(ctx, sub)
	}()
	return func() { cancel(); <-done }
}

func (m *mailbox) pullLoop(ctx context.Context, sub *ews.Subscription) {
	clk := m.e.cfg.Clock
	wm := sub.Watermark
	lastOK := clk.Now()
	failures := 0
	for {
		if debounce.Sleep(ctx, clk, m.e.cfg.PullInterval) != nil {
			return
		}
		var err error
		for n, e := range allEvents(ctx, m.remote, sub.ID, wm, m.eventsOptions()) {
			if e != nil {
				err = e
				break
			}
			m.onEvents(sub.ID, n.Events)
			if w := n.LastWatermark(); w != "" {
				wm = w
			}
		}
		if err == nil {
			lastOK, failures = clk.Now(), 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		a := recovery.Classify(err)
		if a == recovery.Retry && clk.Now().Sub(lastOK) < m.e.cfg.PullTimeout {
			failures++
			if debounce.Sleep(ctx, clk, m.e.cfg.Backoff.Delay(failures, ews.BackOffHint(err))) != nil {
				return
			}
			continue
		}
		a = lossAction(err, true) // the pull loop stops: the subscription is gone unless only events were missed
		m.onLost(sub.ID, a, err)
		if a != recovery.CompareOnly {
			return
		}
	}
}

// allEvents is ews.Client.AllEvents over a Remote: GetEvents until
// MoreEvents is false, checking that each notification continues the
// watermark asked for.
func allEvents(ctx context.Context, r Remote, id, wm string, opts *ews.GetEventsOptions) func(func(*ews.Notification, error) bool) {
	return func(yield func(*ews.Notification, error) bool) {
		for {
			n, err := r.GetEvents(ctx, id, wm, opts)
			if err != nil {
				yield(nil, err)
				return
			}
			if n.PreviousWatermark != "" && n.PreviousWatermark != wm {
				yield(nil, fmt.Errorf("%w: continued from %q, asked %q", ews.ErrWatermarkGap, n.PreviousWatermark, wm))
				return
			}
			if !yield(n, nil) || !n.MoreEvents {
				return
			}
			if w := n.LastWatermark(); w != "" {
				wm = w
			}
		}
	}
}

// streamHub shares streaming connections between the mailboxes of one
// client (and affinity group), up to ews.MaxStreamingSubscriptions
// subscriptions on each, and routes what they deliver.
type streamHub struct {
	e     *Engine
	mu    sync.Mutex
	conns map[streamKey][]*streamConn
}

type streamKey struct {
	client Remote
	group  string
}

type streamConn struct {
	hub  *streamHub
	key  streamKey
	sc   *ews.StreamingConnection
	subs map[string]*mailbox // guarded by hub.mu
	down time.Time           // when the current run of failures began; guarded by hub.mu
}

func (h *streamHub) add(m *mailbox, sub *ews.Subscription) (func(), error) {
	client := m.cfg.Client
	if m.cfg.StreamClient != nil {
		client = m.cfg.StreamClient
	}
	key := streamKey{client: client}
	if m.cfg.Group != nil {
		key.group = m.cfg.Group.Name
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns == nil {
		h.conns = make(map[streamKey][]*streamConn)
	}
	var c *streamConn
	for _, cc := range h.conns[key] {
		if len(cc.subs) < ews.MaxStreamingSubscriptions {
			c = cc
			break
		}
	}
	if c == nil {
		sc, err := client.NewStreamingConnection(&ews.StreamingOptions{
			Group: m.cfg.Group, Clock: h.e.cfg.Clock, Logger: h.e.log,
		})
		if err != nil {
			return nil, err
		}
		c = &streamConn{hub: h, key: key, sc: sc, subs: make(map[string]*mailbox)}
		if err := sc.Start(h.e.ctx); err != nil {
			return nil, err
		}
		h.conns[key] = append(h.conns[key], c)
		h.e.wg.Add(1)
		go c.read()
	}
	if err := c.sc.Add(sub.ID); err != nil {
		return nil, err
	}
	c.subs[sub.ID] = m
	id := sub.ID
	return func() { h.remove(c, id) }, nil
}

func (h *streamHub) remove(c *streamConn, id string) {
	h.mu.Lock()
	delete(c.subs, id)
	h.mu.Unlock()
	c.sc.Remove(id)
}

func (h *streamHub) close() {
	h.mu.Lock()
	var all []*streamConn
	for _, cs := range h.conns {
		all = append(all, cs...)
	}
	h.conns = nil
	h.mu.Unlock()
	for _, c := range all {
		_ = c.sc.Close()
	}
}

// read routes one connection's deliveries until its channel closes.
func (c *streamConn) read() {
	defer c.hub.e.wg.Done()
	h := c.hub
	for ev := range c.sc.Events() {
		switch {
		case ev.Notification != nil:
			h.mu.Lock()
			m := c.subs[ev.Notification.SubscriptionID]
			c.down = time.Time{}
			h.mu.Unlock()
			if m != nil {
				m.onEvents(ev.Notification.SubscriptionID, ev.Notification.Events)
			}
		case ev.SubscriptionID != "":
			h.mu.Lock()
			m := c.subs[ev.SubscriptionID]
			h.mu.Unlock()
			if m == nil {
				continue
			}
			m.onLost(ev.SubscriptionID, lossAction(ev.Err, ev.Removed), ev.Err)
		case ev.Err != nil:
			// A connection failure: the connection reconnects by itself
			// and the server queues events meanwhile. Failures that go on
			// for StreamDownAfter count as a loss for every mailbox on it.
			now := h.e.cfg.Clock.Now()
			h.mu.Lock()
			if c.down.IsZero() {
				c.down = now
			}
			var lost []*mailbox
			var ids []string
			if now.Sub(c.down) >= h.e.cfg.StreamDownAfter || (len(c.subs) == 1 && recovery.Classify(ev.Err) == recovery.Resubscribe) {
				for id, m := range c.subs {
					lost, ids = append(lost, m), append(ids, id)
				}
				c.down = time.Time{}
			}
			h.mu.Unlock()
			for i, m := range lost {
				m.onLost(ids[i], recovery.Resubscribe, ev.Err)
			}
		}
	}
}
