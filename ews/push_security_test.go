package ews

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// A forged post carrying a registered subscription id, on any path but
// that subscription's callback, is 404 and changes nothing: no event, no
// watermark change, no liveness credit, and the next genuine post is not
// a gap.
func TestPushListener_ForgedPostsChangeNothing(t *testing.T) {
	l, clk := newTestListener(t, &PushListenerOptions{LivenessSlack: 30 * time.Second})
	path1 := register(t, l, "S1", time.Minute, "W0")
	path2 := register(t, l, "S2", 10*time.Minute, "V0")
	var guess [32]byte
	rand.Read(guess[:])
	forgedPaths := map[string]string{
		"root":                   "/",
		"prefix only":            "/ews/push/",
		"guessed secret":         "/ews/push/" + base64.RawURLEncoding.EncodeToString(guess[:]),
		"secret truncated":       path1[:len(path1)-1],
		"secret as a directory":  path1 + "/x",
		"another subscription's": path2,
	}
	clk.Advance(2 * time.Minute) // S1 is lost at 2 min 30 s unless it shows life
	for name, p := range forgedPaths {
		for _, body := range [][]byte{pushNotification("S1", "W0", "EVIL1"), pushNotification("S1", "EVIL0", "EVIL1"), pushNotification("S1", "W0")} {
			if w := post(t, l, p, xmlCT, body); w.Code != http.StatusNotFound {
				t.Fatalf("%s: status %d, want 404", name, w.Code)
			}
		}
	}
	// The subscription's own body on the other's path, and the other's
	// body on this path.
	if w := post(t, l, path1, xmlCT, pushNotification("S2", "V0", "EVIL1")); w.Code != http.StatusNotFound {
		t.Fatalf("S2's body on S1's path: %d", w.Code)
	}
	noPushEvent(t, l)
	if wm, _ := l.Watermark("S1"); wm != "W0" {
		t.Fatalf("S1 watermark %q after forged posts", wm)
	}
	if wm, _ := l.Watermark("S2"); wm != "V0" {
		t.Fatalf("S2 watermark %q after forged posts", wm)
	}
	// The genuine server continues S2's chain: no gap.
	expectReply(t, post(t, l, path2, xmlCT, pushNotification("S2", "V0", "V1")), "sendnotification_ok.response.xml")
	if ev := recvPush(t, l); ev.Gap || ev.Err != nil || ev.Notification.Events[0].Watermark != "V1" {
		t.Fatalf("genuine post after forgeries %+v", ev)
	}
	// No forged post counted as a sign of life for S1.
	clk.Advance(29 * time.Second)
	noPushEvent(t, l)
	clk.Advance(time.Second)
	if ev := recvPush(t, l); ev.SubscriptionID != "S1" || !errors.Is(ev.Err, ErrSubscriptionLost) {
		t.Fatalf("event %+v, want S1 lost on time", ev)
	}
}

// On the genuine path, a notification that does not continue the chain is
// a gap to recover from, never a new truth: Watermark moves neither
// backwards (a replay of an older notification) nor sideways (a chain
// from elsewhere).
func TestPushListener_WatermarkNeverMovesBackOrSideways(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W0", "W1")), "sendnotification_ok.response.xml")
	recvPush(t, l)
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W1", "W2")), "sendnotification_ok.response.xml")
	recvPush(t, l)
	for name, body := range map[string][]byte{
		"backwards": pushNotification("S1", "W0", "W1"),
		"sideways":  pushNotification("S1", "X7", "X8"),
		"no anchor": pushNotification("S1", "", "X9"),
	} {
		expectReply(t, post(t, l, path, xmlCT, body), "sendnotification_ok.response.xml")
		ev := recvPush(t, l)
		if !ev.Gap || !errors.Is(ev.Err, ErrWatermarkGap) || ev.SubscriptionID != "S1" {
			t.Fatalf("%s: event %+v, want a gap", name, ev)
		}
		if wm, _ := l.Watermark("S1"); wm != "W2" {
			t.Fatalf("%s: watermark moved to %q", name, wm)
		}
	}
}

// Posts on paths the listener never issued are answered at once, even
// while a callback is outstanding: only a post on that callback's own path
// waits for Register.
func TestPushListener_UnknownPathsAnsweredAtOnce(t *testing.T) {
	l, clk := newTestListener(t, nil)
	cb := l.Expect()
	defer cb.Release()
	register(t, l, "S1", time.Minute, "W0")
	retired := l.Expect()
	retired.Release()
	timers := clk.Pending()
	const posts = 50
	var wg sync.WaitGroup
	bad := make(chan string, posts)
	for i := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, want := "/ews/push/unknown", http.StatusNotFound
			if i%2 == 1 {
				// Issued, its subscription gone: Unsubscribe.
				p, want = "/ews/push/"+retired.Path(), http.StatusOK
			}
			w := post(t, l, p, xmlCT, pushNotification("S1", "W0", "W1"))
			if w.Code != want || want == http.StatusOK && !strings.Contains(w.Body.String(), ">Unsubscribe<") {
				bad <- fmt.Sprintf("%s: %d %s", p, w.Code, w.Body)
			}
		}()
	}
	// The fake clock never moves: a post that waited would never return.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("posts for unknown paths were held")
	}
	close(bad)
	for b := range bad {
		t.Error(b)
	}
	if n := clk.Pending(); n != timers {
		t.Fatalf("%d timers pending, had %d: a post waited", n, timers)
	}
	noPushEvent(t, l)
	if wm, _ := l.Watermark("S1"); wm != "W0" {
		t.Fatalf("watermark %q", wm)
	}
}

// A push body flooding attributes, namespace declarations or elements
// within the body limit is refused with the codec's typed error before a
// tree is built, and the listener answers 400 with its fixed text,
// changing nothing.
func TestPushListener_FloodsBounded(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	inject := func(flood string) []byte {
		b := string(pushNotification("S1", "W0", "W1"))
		at := strings.Index(b, "<t:CreatedEvent>")
		return []byte(b[:at] + flood + b[at:])
	}
	var attrs, xmlns strings.Builder
	attrs.WriteString("<t:X ")
	xmlns.WriteString("<t:X ")
	for i := 0; attrs.Len() < DefaultPushMaxBodyBytes-4096; i++ {
		fmt.Fprintf(&attrs, `a%d="" `, i)
	}
	for i := 0; xmlns.Len() < DefaultPushMaxBodyBytes-4096; i++ {
		fmt.Fprintf(&xmlns, `xmlns:p%d="urn:x" `, i)
	}
	attrs.WriteString("/>")
	xmlns.WriteString("/>")
	for _, c := range []struct {
		name string
		body []byte
		want error
	}{
		{"attributes", inject(attrs.String()), ewsxml.ErrTooManyAttributes},
		{"xmlns", inject(xmlns.String()), ewsxml.ErrTooManyNamespaces},
		{"nesting", inject(strings.Repeat("<t:X>", 100_000)), ewsxml.ErrTooDeep},
	} {
		var err error
		n := allocatedBy(func() { _, err = decodeSendNotification(c.body) })
		if !errors.Is(err, ErrMalformedNotification) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if n > 64<<10 {
			t.Errorf("%s: %d bytes allocated for a %d-byte body", c.name, n, len(c.body))
		}
		w := post(t, l, path, xmlCT, c.body)
		if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "ewsxml") {
			t.Errorf("%s: %d %q", c.name, w.Code, w.Body)
		}
	}
	noPushEvent(t, l)
	if wm, _ := l.Watermark("S1"); wm != "W0" {
		t.Fatalf("watermark %q", wm)
	}
}

// The last character of a path's base64 carries unused bits: the other
// spellings that decode to the same secret are not the path (404, and no
// Unsubscribe for a retired one).
func TestPushListener_OnlyCanonicalPathSpelling(t *testing.T) {
	l, _ := newTestListener(t, nil)
	retired := l.Expect()
	retired.Release()
	p := retired.Path()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	idx := strings.IndexByte(alphabet, p[len(p)-1])
	spellings := 0
	for i := range alphabet {
		if i == idx || i>>2 != idx>>2 { // same decoded bytes: same high bits
			continue
		}
		spellings++
		alt := p[:len(p)-1] + alphabet[i:i+1]
		if w := post(t, l, "/ews/push/"+alt, xmlCT, pushNotification("S1", "W0", "W1")); w.Code != http.StatusNotFound {
			t.Errorf("spelling %q of a retired path: %d %s", alt, w.Code, w.Body)
		}
	}
	if w := post(t, l, "/ews/push/"+p, xmlCT, pushNotification("S1", "W0", "W1")); w.Code != http.StatusOK {
		t.Fatalf("the retired path itself: %d", w.Code)
	}
	if spellings == 0 {
		t.Fatal("no other spelling tried")
	}
}
