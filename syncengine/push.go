package syncengine

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
)

// pushPathPrefix is where the engine mounts its push listener; each
// subscription's callback path is this prefix and a secret segment of its
// own (ews.PushCallback).
const pushPathPrefix = "/mailsync/push/"

// pusher is the engine's push listener and the router of what it delivers.
type pusher struct {
	e *Engine
	l *ews.PushListener
	// base is the URL the callbacks' secret segments are appended to.
	base string
	srv  *ews.PushServer

	mu   sync.Mutex
	subs map[string]*mailbox
	// digests are the callback digests of the registered subscriptions,
	// stored with them so that a later run can retire them.
	digests map[string]string
}

// pushHub returns the engine's push listener, creating (and, with
// Config.Push.Listen, serving) it on first use.
func (e *Engine) pushHub() (*pusher, error) {
	e.pushOnce.Do(func() { e.push, e.pushErr = e.newPusher() })
	return e.push, e.pushErr
}

func (e *Engine) newPusher() (*pusher, error) {
	pc := e.cfg.Push
	if pc.Listen == "" && pc.URL == "" {
		return nil, ErrPushNotConfigured
	}
	l, err := ews.NewPushListener(&ews.PushListenerOptions{
		Clock: e.cfg.Clock, Logger: e.log, LivenessSlack: pc.LivenessSlack,
	})
	if err != nil {
		return nil, err
	}
	p := &pusher{e: e, l: l, subs: make(map[string]*mailbox), digests: make(map[string]string)}
	base := strings.TrimRight(pc.URL, "/")
	if pc.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle(pushPathPrefix, l)
		srv, err := ews.NewPushServer(mux, &ews.PushServerOptions{TLSConfig: pc.TLSConfig, Logger: e.log})
		if err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("push listener: %w", err)
		}
		ln, err := net.Listen("tcp", pc.Listen)
		if err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("push listener: %w", err)
		}
		if base == "" {
			scheme := "http://"
			if srv.TLS() {
				scheme = "https://"
			}
			base = scheme + ln.Addr().String()
		}
		p.srv = srv
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.log.Error("push listener stopped", "err", err)
			}
		}()
	}
	p.base = base + strings.TrimRight(pushPathPrefix, "/")
	e.wg.Add(1)
	go p.route()
	return p, nil
}

// register makes the listener accept the subscription's posts on the
// callback it was created with.
func (p *pusher) register(m *mailbox, sub *ews.Subscription, cb *ews.PushCallback) (func(), error) {
	p.mu.Lock()
	p.subs[sub.ID] = m
	p.digests[sub.ID] = cb.Digest()
	p.mu.Unlock()
	id := sub.ID
	forget := func() {
		p.mu.Lock()
		delete(p.subs, id)
		delete(p.digests, id)
		p.mu.Unlock()
	}
	if err := cb.Register(sub.ID, p.e.cfg.Push.StatusFrequency, sub.Watermark); err != nil {
		forget()
		return nil, err
	}
	return func() {
		p.l.Unregister(id)
		forget()
	}, nil
}

// pushDigest is the callback digest to store with sub: that of its
// callback path for a push subscription this run registered, else "".
func (m *mailbox) pushDigest(sub *ews.Subscription) string {
	if sub == nil || sub.Kind != ews.Push {
		return ""
	}
	p, err := m.e.pushHub()
	if err != nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.digests[sub.ID]
}

// retireStoredPush makes the listener answer the next post of a push
// subscription an earlier run stored Unsubscribe (ews.PushListener.Retire):
// the server keeps posting to it until then, and no operation ends it.
func (m *mailbox) retireStoredPush(old localstore.Subscription) {
	if old.Kind != localstore.Push || old.ID == "" || old.CallbackDigest == "" {
		return
	}
	p, err := m.e.pushHub()
	if err == nil {
		err = p.l.Retire(old.ID, old.CallbackDigest)
	}
	if err != nil {
		m.log.Debug("cannot retire the stored push subscription", "err", err)
	}
}

// route hands the listener's deliveries to their mailboxes: events go to
// the debouncer at once (so the POST is answered only after they were
// handed on), gaps and losses to recovery.
func (p *pusher) route() {
	defer p.e.wg.Done()
	for ev := range p.l.Events() {
		p.mu.Lock()
		m := p.subs[ev.SubscriptionID]
		if m == nil && ev.Notification != nil {
			m = p.subs[ev.Notification.SubscriptionID]
		}
		p.mu.Unlock()
		if m == nil {
			continue
		}
		if ev.Notification != nil {
			m.onEvents(ev.Notification.SubscriptionID, ev.Notification.Events)
		}
		if ev.Err != nil {
			m.onLost(ev.SubscriptionID, lossAction(ev.Err, false), ev.Err)
		}
	}
}

func (p *pusher) close() {
	if p.srv != nil {
		_ = p.srv.Close()
	}
	_ = p.l.Close()
}
