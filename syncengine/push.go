package syncengine

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/mailsync/mailsync/ews"
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
	p := &pusher{e: e, l: l, subs: make(map[string]*mailbox)}
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
	p.mu.Unlock()
	if err := cb.Register(sub.ID, p.e.cfg.Push.StatusFrequency, sub.Watermark); err != nil {
		p.mu.Lock()
		delete(p.subs, sub.ID)
		p.mu.Unlock()
		return nil, err
	}
	id := sub.ID
	return func() {
		p.l.Unregister(id)
		p.mu.Lock()
		delete(p.subs, id)
		p.mu.Unlock()
	}, nil
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
