package ews

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A listener started after another (a restarted process) answers the
// first post for a retired subscription on its old path Unsubscribe and
// forgets the path; posts naming another subscription, on other paths or
// on the digest itself are 404; nothing is delivered.
func TestPushListener_RetireEarlierSubscription(t *testing.T) {
	old, _ := newTestListener(t, nil)
	cb := old.Expect()
	if err := cb.Register("S1", time.Minute, "W0"); err != nil {
		t.Fatal(err)
	}
	path, digest := "/mailsync/push/"+cb.Path(), cb.Digest()
	cb.Release()
	if digest == cb.Path() || strings.Contains(digest, cb.Path()) {
		t.Fatal("the digest shows the path")
	}
	old.Close()

	l, _ := newTestListener(t, nil)
	body := pushNotification("S1", "W0", "W1")
	// Not retired (yet): the earlier listener's path is unknown here.
	if w := post(t, l, path, xmlCT, body); w.Code != http.StatusNotFound {
		t.Fatalf("before Retire: %d", w.Code)
	}
	if err := l.Retire("S1", digest); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		path string
		body []byte
	}{
		"another subscription's body": {path, pushNotification("S2", "W0", "W1")},
		"the digest as a path":        {"/mailsync/push/" + digest, body},
		"another path":                {path[:len(path)-2] + "xx", body},
	} {
		if w := post(t, l, c.path, xmlCT, c.body); w.Code != http.StatusNotFound {
			t.Fatalf("%s: %d", name, w.Code)
		}
	}
	if w := post(t, l, path, "text/plain", body); w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("wrong content type: %d", w.Code)
	}
	expectReply(t, post(t, l, path, xmlCT, body), "sendnotification_unsubscribe.response.xml")
	// Once: then the path is forgotten.
	if w := post(t, l, path, xmlCT, body); w.Code != http.StatusNotFound {
		t.Fatalf("second post: %d", w.Code)
	}
	noPushEvent(t, l)
	if _, ok := l.Watermark("S1"); ok {
		t.Fatal("the retired subscription is registered")
	}
}

func TestPushListener_RetireRefusesBadInput(t *testing.T) {
	l, _ := newTestListener(t, nil)
	cb := l.Expect()
	defer cb.Release()
	for _, c := range []struct{ id, digest string }{{"", cb.Digest()}, {"S1", ""}, {"S1", "not base64!"}, {"S1", cb.Digest()[:20]}} {
		if err := l.Retire(c.id, c.digest); !errors.Is(err, ErrInvalidSubscribeRequest) {
			t.Errorf("Retire(%q, %q) = %v", c.id, c.digest, err)
		}
	}
	l.Close()
	if err := l.Retire("S1", cb.Digest()); !errors.Is(err, ErrConnectionClosed) {
		t.Errorf("after Close: %v", err)
	}
}
