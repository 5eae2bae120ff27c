package notify

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// PushResult describes one SendNotification attempt, for Options.OnPush.
type PushResult struct {
	SubscriptionID string
	// Events is the number of events posted (0 for a StatusEvent).
	Events int
	// Status is the subscriber's SubscriptionStatus ("OK", "Unsubscribe")
	// when the POST was answered properly.
	Status string
	// Err is why the attempt failed (transport error, HTTP status, a
	// malformed answer); nil on success.
	Err error
	// Retry is the delay before the next attempt after a failure (zero
	// when none is scheduled).
	Retry time.Duration
	// Deleted is true when the subscription ended with this attempt
	// (Unsubscribe answered, or the retry schedule ran out).
	Deleted bool
}

type pushState struct {
	url        string
	callerData string
	freq       time.Duration

	inflight    bool
	waiting     bool // a retry is scheduled
	failures    int  // consecutive failed attempts
	retryTimer  func() bool
	statusTimer func() bool
	gen         uint64
}

func (p *pushState) stopTimers() {
	p.gen++
	if p.retryTimer != nil {
		p.retryTimer()
	}
	if p.statusTimer != nil {
		p.statusTimer()
	}
}

// retryDelay returns the delay before retry number i (0-based) after a
// failure, or false when the schedule has run out.
func retryDelay(schedule RetrySchedule, freq time.Duration, i int) (time.Duration, bool) {
	switch schedule {
	case RetryLinear:
		if i >= 3 {
			return 0, false
		}
		return time.Duration(i+1) * freq, true
	default:
		if i > 30 {
			return 0, false
		}
		d := 30 * time.Second << i
		if d > freq {
			return 0, false
		}
		return d, true
	}
}

// sendPushLocked posts the next notification of a push subscription
// unless a POST is in flight or a retry is pending: up to 50 queued
// events, or a StatusEvent when none wait.
func (b *Broker) sendPushLocked(s *subscription) {
	p := s.push
	if s.deleted || b.closed || p.inflight || p.waiting {
		return
	}
	if p.statusTimer != nil {
		p.statusTimer()
	}
	n := Notification{SubscriptionID: s.id, PreviousWatermark: s.lastWM}
	k := min(len(s.queue), MaxEventsPerNotification)
	if k == 0 {
		n.Events = []StampedEvent{statusEvent(s.lastWM, b.clock.Now())}
	} else {
		n.Events = append([]StampedEvent(nil), s.queue[:k]...)
		n.MoreEvents = len(s.queue) > k
	}
	body := AppendPushEnvelope(nil, n, b.opts.RequestServerVersion)
	p.inflight = true
	gen, qgen := p.gen, s.qgen
	ctx, client, timeout := b.pushCtx, b.opts.HTTPClient, b.opts.PushTimeout
	b.pushWG.Add(1)
	go func() {
		defer b.pushWG.Done()
		status, err := post(ctx, client, timeout, p.url, body)
		b.pushDone(s, gen, qgen, k, status, err)
	}()
}

// post sends one SendNotification and returns the SubscriptionStatus of
// the answer.
func post(ctx context.Context, client *http.Client, timeout time.Duration, url string, body []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", NSMessages+"/SendNotification")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return "", fmt.Errorf("notify: push answered HTTP %d", resp.StatusCode)
	}
	return parseSubscriptionStatus(io.LimitReader(resp.Body, 1<<20))
}

// errBadPushAnswer: the subscriber's answer had no usable
// SubscriptionStatus.
var errBadPushAnswer = errors.New("notify: push answer has no SubscriptionStatus OK or Unsubscribe")

// parseSubscriptionStatus reads a SendNotificationResult and returns its
// SubscriptionStatus, matching elements by namespace and local name.
func parseSubscriptionStatus(r io.Reader) (string, error) {
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return "", errBadPushAnswer
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "SubscriptionStatus" || se.Name.Space != NSMessages {
			continue
		}
		var v string
		if err := d.DecodeElement(&v, &se); err != nil {
			return "", errBadPushAnswer
		}
		switch v {
		case "OK", "Unsubscribe":
			return v, nil
		}
		return "", errBadPushAnswer
	}
}

// pushDone handles the outcome of one POST.
func (b *Broker) pushDone(s *subscription, gen, qgen uint64, sent int, status string, err error) {
	res := PushResult{SubscriptionID: s.id, Events: sent, Status: status, Err: err}
	b.mu.Lock()
	p := s.push
	onPush := b.opts.OnPush
	if s.deleted || p.gen != gen || b.closed {
		b.mu.Unlock()
		res.Deleted = true
		observe(onPush, res)
		return
	}
	p.inflight = false
	switch {
	case err == nil && status == "OK":
		p.failures = 0
		if sent > 0 && s.qgen == qgen {
			s.lastWM = s.queue[sent-1].Watermark
			s.queue = s.queue[sent:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
		}
		if len(s.queue) > 0 {
			b.sendPushLocked(s)
		} else {
			b.armStatusTimerLocked(s)
		}
	case err == nil && status == "Unsubscribe":
		b.removeLocked(s, nil)
		res.Deleted = true
	default:
		d, ok := retryDelay(b.opts.PushRetry, p.freq, p.failures)
		p.failures++
		if !ok {
			b.log.Debug("push retry schedule ran out; subscription deleted", "id", s.id)
			b.removeLocked(s, nil)
			res.Deleted = true
			break
		}
		res.Retry = d
		p.waiting = true
		g := p.gen
		p.retryTimer = b.clock.AfterFunc(d, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if !s.deleted && p.gen == g {
				p.waiting = false
				b.sendPushLocked(s)
			}
		})
	}
	b.mu.Unlock()
	observe(onPush, res)
}

func (b *Broker) armStatusTimerLocked(s *subscription) {
	p := s.push
	if p.statusTimer != nil {
		p.statusTimer()
	}
	g := p.gen
	p.statusTimer = b.clock.AfterFunc(p.freq, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !s.deleted && p.gen == g {
			b.sendPushLocked(s)
		}
	})
}

func observe(onPush func(PushResult), r PushResult) {
	if onPush != nil {
		onPush(r)
	}
}
