package ews

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
)

// Digest returns a digest of the callback's path (SHA-256, unpadded
// base64url) that identifies the path without revealing it: store it with
// the subscription, so that a later process can Retire the subscription
// when the server posts to it again. Unlike the path, the digest gives no
// way to post for the subscription.
func (cb *PushCallback) Digest() string { return pushDigest(cb.secret) }

func pushDigest(secret string) string {
	h := sha256.Sum256([]byte("mailsync push callback digest\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Retire makes the listener end a push subscription that an earlier
// listener (typically an earlier run of the process) created on a callback
// path whose Digest was digest. The server keeps posting to such a
// subscription until a post is answered Unsubscribe or its retry schedule
// runs out — the Unsubscribe operation does not end push subscriptions
// (MS-OXWSNTIF 3.1.4.4) — and the path, drawn under the earlier
// listener's key, is not one this listener issued, so it would be 404.
//
// After Retire, the first POST on that path that passes the checks any
// post must (method, content type, body size, a SendNotification body)
// and names the subscription id, and no other, is answered 200 with
// SubscriptionStatus Unsubscribe; the path is then forgotten. Nothing is
// delivered, no state of other subscriptions changes, and a post on the
// path naming another id is 404 and leaves the path waiting. Retire fails
// with ErrInvalidSubscribeRequest for an empty id or a digest Digest could
// not have returned, and with ErrConnectionClosed after Close.
func (l *PushListener) Retire(id, digest string) error {
	if id == "" {
		return fmt.Errorf("%w: empty subscription id", ErrInvalidSubscribeRequest)
	}
	if b, err := base64.RawURLEncoding.DecodeString(digest); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("%w: not a push callback digest", ErrInvalidSubscribeRequest)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrConnectionClosed
	}
	l.retiring[digest] = id
	return nil
}

// retiringID returns the subscription id a retiring path was for, or "".
func (l *PushListener) retiringID(secret string) string {
	if len(secret) != base64.RawURLEncoding.EncodedLen(pushSecretNonce+pushSecretTag) {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.retiring) == 0 {
		return ""
	}
	return l.retiring[pushDigest(secret)]
}

// answerRetiring answers a valid post on a retiring path: Unsubscribe,
// once, when it is for the path's subscription; 404 otherwise.
func (l *PushListener) answerRetiring(w http.ResponseWriter, r *http.Request, secret, id string, msgs []sendNotificationMessage) {
	named := false
	for _, m := range msgs {
		if m.SubscriptionID != "" && m.SubscriptionID != id {
			http.NotFound(w, r)
			return
		}
		named = named || m.SubscriptionID == id
	}
	digest := pushDigest(secret)
	l.mu.Lock()
	ok := named && !l.closed && l.retiring[digest] == id
	if ok {
		delete(l.retiring, digest)
	}
	l.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	l.log.Info("push subscription of an earlier listener answered Unsubscribe", LogKeySubscription, id)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, pushReplyUnsubscribe)
}
