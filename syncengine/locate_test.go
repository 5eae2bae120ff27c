package syncengine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// site is another front door of the fake (a Client Access site with an
// EWS URL of its own), counting the EWS operations it is asked.
type site struct {
	ts  *httptest.Server
	mu  sync.Mutex
	ops map[string]int
}

func newSite(t *testing.T, srv *ewstest.Server) *site {
	t.Helper()
	s := &site{ops: map[string]int{}}
	h := srv.Handler()
	s.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.ops[soapOp(body)]++
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.ts.Close)
	return s
}

func (s *site) url() string { return s.ts.URL + ewstest.Path }

// count returns the number of requests for op, or for every operation but
// GetStreamingEvents when op is "".
func (s *site) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op != "" {
		return s.ops[op]
	}
	n := 0
	for o, c := range s.ops {
		if o != "GetStreamingEvents" {
			n += c
		}
	}
	return n
}

// soapOp names the first element in a SOAP body.
func soapOp(body []byte) string {
	i := bytes.Index(body, []byte("Body>"))
	if i < 0 {
		return ""
	}
	rest := body[i+len("Body>"):]
	j := bytes.IndexByte(rest, '<')
	if j < 0 {
		return ""
	}
	name := rest[j+1:]
	if k := bytes.IndexAny(name, " />"); k >= 0 {
		name = name[:k]
	}
	if k := bytes.IndexByte(name, ':'); k >= 0 {
		name = name[k+1:]
	}
	return string(name)
}

func gusCount(srv *ewstest.Server) int64 { return srv.RequestStats().Requests["GetUserSettings"] }

// newLocator is an AutodiscoverLocator asking the fake's SOAP
// Autodiscover; clk (nil: the wall clock) ages its cache.
func newLocator(t *testing.T, f *fixture, clk ews.Clock) *AutodiscoverLocator {
	t.Helper()
	opts := &ews.Options{Logger: quietLogger(), Clock: clk,
		Retry: ews.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, NetworkBaseDelay: time.Millisecond}}
	a, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{Client: opts, URL: f.srv.AutodiscoverURL()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewAutodiscoverLocator(a, &AutodiscoverLocatorOptions{Client: opts})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startLocated starts an engine whose mailbox is found by loc.
func startLocated(t *testing.T, f *fixture, mode Mode, loc Locator, cfg Config) *Engine {
	t.Helper()
	eng, err := New(f.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.AddMailbox(context.Background(), Mailbox{Address: testAddr, Mode: mode, Locator: loc}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	return eng
}

// waitLocated waits for an EventLocated whose report satisfies ok.
func waitLocated(t *testing.T, events <-chan Event, ok func(*LocationReport) bool, timeout time.Duration) *LocationReport {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-events:
			if ev.Kind == EventLocated && ok(ev.Location) {
				return ev.Location
			}
		case <-deadline.C:
			t.Fatalf("no matching %v event within %v", EventLocated, timeout)
			return nil
		}
	}
}

// TestEngine_LocatorRehomesOnMove: a mailbox found by Autodiscover on one
// site moves to a database whose backend another site (another EWS URL)
// serves. ErrorMailboxMoveInProgress makes the engine forget and
// rediscover the address, re-home the mailbox on the new site (new client,
// new affinity group), resubscribe there and compare; the mirror converges
// exactly, the old site hears no more of the mailbox, and Autodiscover was
// asked twice in all: once at start, once for the move, never per request.
func TestEngine_LocatorRehomesOnMove(t *testing.T) {
	for _, mode := range []Mode{Streaming, Pull} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, 200, 4)
			siteA, siteB := newSite(t, f.srv), newSite(t, f.srv)
			f.srv.SetBackendEwsURL(ewstest.BackendOf("DB01"), siteA.url())
			f.srv.SetBackendEwsURL(ewstest.BackendOf("DB02"), siteB.url())
			events := make(chan Event, 4096)
			eng := startLocated(t, f, mode, newLocator(t, f, nil), testConfig(events))

			at := waitLocated(t, events, func(*LocationReport) bool { return true }, 20*time.Second)
			if at.Cause != "start" || at.Moved || at.EwsURL != siteA.url() || at.GroupingInformation != ewstest.GroupingInformationOf(ewstest.BackendOf("DB01")) {
				t.Fatalf("first location %+v", at)
			}
			waitEvent(t, events, EventInitialSync, 20*time.Second)
			f.step(40, 3)
			f.converge(ctx, 20*time.Second)
			if n := gusCount(f.srv); n != 1 {
				t.Fatalf("%d GetUserSettings before the move, want 1", n)
			}
			if siteA.count("") == 0 || siteB.count("") != 0 {
				t.Fatalf("before the move: site A %d, site B %d requests", siteA.count(""), siteB.count(""))
			}

			if err := f.srv.MoveMailbox(testAddr, "DB02"); err != nil {
				t.Fatal(err)
			}
			f.changeInbox(2)
			moved := waitLocated(t, events, func(r *LocationReport) bool { return r.Moved }, 20*time.Second)
			if moved.EwsURL != siteB.url() || moved.PreviousEwsURL != siteA.url() ||
				moved.GroupingInformation != ewstest.GroupingInformationOf(ewstest.BackendOf("DB02")) {
				t.Fatalf("after the move: %+v", moved)
			}
			rec := waitEvent(t, events, EventRecovery, 20*time.Second).Recovery
			if !rec.MailboxMoved || !rec.Resubscribed {
				t.Fatalf("recovery %+v", rec)
			}
			oldSite := siteA.count("")
			f.step(40, 9)
			f.converge(ctx, 20*time.Second)
			if n := siteA.count(""); n != oldSite {
				t.Fatalf("site A asked %d more requests after the mailbox moved away", n-oldSite)
			}
			if siteB.count("Subscribe") == 0 || siteB.count("SyncFolderItems") == 0 {
				t.Fatalf("site B ops %v", siteB.ops)
			}
			if n := gusCount(f.srv); n != 2 {
				t.Fatalf("%d GetUserSettings, want 2 (start and move)", n)
			}
			st := eng.Status()[0]
			if st.EwsURL != siteB.url() || st.GroupingInformation != moved.GroupingInformation {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestEngine_LocatorExpiry: when the cached settings expire (the
// Autodiscover TTL, on the engine's clock), the engine asks again; the same
// answer leaves the mailbox where it is (no recovery), a new EWS URL
// re-homes it and it recovers there.
func TestEngine_LocatorExpiry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 4)
	siteA, siteB := newSite(t, f.srv), newSite(t, f.srv)
	f.srv.SetBackendEwsURL(ewstest.BackendOf("DB01"), siteA.url())
	clk := debouncetest.NewClock(time.Now())
	events := make(chan Event, 4096)
	cfg := testConfig(events)
	cfg.Clock = clk
	cfg.SweepInterval = -1
	eng := startLocated(t, f, Pull, newLocator(t, f, clk), cfg)
	stop := accelerate(clk, cfg.Quiet)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.changeInbox(1)
	f.converge(ctx, 20*time.Second)
	stop()
	if n := gusCount(f.srv); n != 1 {
		t.Fatalf("%d GetUserSettings, want 1", n)
	}

	clk.Advance(ews.DefaultAutodiscoverTTL + time.Minute)
	same := waitLocated(t, events, func(r *LocationReport) bool { return r.Cause == "expired" }, 20*time.Second)
	if same.Moved || same.EwsURL != siteA.url() {
		t.Fatalf("expired, unchanged: %+v", same)
	}
	if n := gusCount(f.srv); n != 2 {
		t.Fatalf("%d GetUserSettings after the expiry, want 2", n)
	}
	if st := eng.Status()[0]; st.Recoveries != 0 {
		t.Fatalf("an unchanged location made the mailbox recover: %+v", st)
	}

	// The organisation publishes another EWS URL for the backend.
	f.srv.SetBackendEwsURL(ewstest.BackendOf("DB01"), siteB.url())
	clk.Advance(ews.DefaultAutodiscoverTTL + time.Minute)
	moved := waitLocated(t, events, func(r *LocationReport) bool { return r.Cause == "expired" }, 20*time.Second)
	if !moved.Moved || moved.EwsURL != siteB.url() || moved.PreviousEwsURL != siteA.url() {
		t.Fatalf("expired, moved: %+v", moved)
	}
	stop = accelerate(clk, cfg.Quiet)
	defer stop()
	rec := waitEvent(t, events, EventRecovery, 20*time.Second).Recovery
	if !rec.MailboxMoved || !rec.Resubscribed {
		t.Fatalf("recovery %+v", rec)
	}
	oldSite := siteA.count("")
	f.changeInbox(3)
	f.converge(ctx, 20*time.Second)
	if siteA.count("") != oldSite || siteB.count("Subscribe") != 1 || siteB.count("GetEvents") == 0 {
		t.Fatalf("site A +%d requests, site B ops %v", siteA.count("")-oldSite, siteB.ops)
	}
	if n := gusCount(f.srv); n != 3 {
		t.Fatalf("%d GetUserSettings, want 3", n)
	}
}

// A Locator also serves SyncOnce, which leaves no expiry timer behind.
func TestEngine_LocatorSyncOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 150, 3)
	eng, err := New(f.store, testConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Locator: newLocator(t, f, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := eng.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if d := f.diff(ctx); len(d) > 0 {
		t.Fatalf("after SyncOnce:\n%s", strings.Join(d, "\n"))
	}
	if st := eng.Status()[0]; st.EwsURL != f.srv.URL {
		t.Fatalf("status EwsURL %q, want %q", st.EwsURL, f.srv.URL)
	}
	// The mailbox moves between two SyncOnce calls: the second one meets
	// ErrorMailboxMoveInProgress, asks the Locator again and syncs on the
	// new server.
	site := newSite(t, f.srv)
	f.srv.SetBackendEwsURL(ewstest.BackendOf("DB02"), site.url())
	if err := f.srv.MoveMailbox(testAddr, "DB02"); err != nil {
		t.Fatal(err)
	}
	f.changeInbox(3)
	var once atomic.Bool
	f.srv.Faults().SetHook(func(op, _ string) *ewstest.Fault {
		if op != "GetUserSettings" && once.CompareAndSwap(false, true) {
			return &ewstest.Fault{Code: "ErrorMailboxMoveInProgress"} // the old server's answer
		}
		return nil
	})
	if err := eng.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce after a move: %v", err)
	}
	if !once.Load() {
		t.Fatal("the move was never reported")
	}
	if d := f.diff(ctx); len(d) > 0 {
		t.Fatalf("after the move:\n%s", strings.Join(d, "\n"))
	}
	if st := eng.Status()[0]; st.EwsURL != site.url() || site.count("SyncFolderItems") == 0 {
		t.Fatalf("status EwsURL %q, want %q; new site ops %v", st.EwsURL, site.url(), site.ops)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A failing Locator at start makes the mailbox back off and ask again; it
// never reaches the server meanwhile.
func TestEngine_LocatorFailureAtStartBacksOff(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 50, 2)
	f.srv.SetAutodiscoverUser(testAddr, ewstest.AutodiscoverUser{ErrorCode: "InvalidUser"})
	events := make(chan Event, 4096)
	startLocated(t, f, Pull, newLocator(t, f, nil), testConfig(events))
	ev := waitEvent(t, events, EventError, 20*time.Second)
	if !errors.Is(ev.Err, ews.AutodiscoverInvalidUser) {
		t.Fatalf("error %v", ev.Err)
	}
	if n := f.srv.RequestStats().Requests["Subscribe"]; n != 0 {
		t.Fatalf("%d Subscribe before the mailbox was located", n)
	}
	f.srv.SetAutodiscoverUser(testAddr, ewstest.AutodiscoverUser{})
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.converge(ctx, 20*time.Second)
}

func TestMailbox_LocatorValidation(t *testing.T) {
	f := newFixture(t, 0, 0)
	loc := newLocator(t, f, nil)
	for _, mb := range []Mailbox{
		{Address: testAddr},
		{Address: testAddr, Locator: loc, Client: f.client()},
		{Address: testAddr, Locator: loc, Group: &ews.AffinityGroup{Name: "g", Anchor: testAddr}},
	} {
		if err := mb.validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", mb, err)
		}
	}
	if err := (&Mailbox{Address: testAddr, Locator: loc}).validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAutodiscoverLocator(nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewAutodiscoverLocator(nil): %v", err)
	}
}

// TestAutodiscoverLocator_Groups: mailboxes on one backend share a client
// and an affinity group anchored on the first of them; one on another
// backend gets a group of its own; when the anchor moves away, its old
// group takes no new members.
func TestAutodiscoverLocator_Groups(t *testing.T) {
	ctx := context.Background()
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{
		{Name: "a", Address: "a@example.com"}, {Name: "b", Address: "b@example.com"},
		{Name: "c", Address: "c@example.com", Database: "DB02"}, {Name: "d", Address: "d@example.com"},
	}})
	t.Cleanup(srv.Close)
	other := newSiteURL(t, srv)
	srv.SetBackendEwsURL(ewstest.BackendOf("DB02"), other)
	l := newLocator(t, &fixture{srv: srv}, nil)
	locate := func(addr string, refresh bool) Location {
		t.Helper()
		loc, err := l.Locate(ctx, addr, refresh)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	a, b, c := locate("a@example.com", false), locate("b@example.com", false), locate("c@example.com", false)
	if a.Group != b.Group || a.Group.Anchor != "a@example.com" || a.Client != b.Client {
		t.Fatalf("a and b: groups %+v / %+v, same client %v", a.Group, b.Group, a.Client == b.Client)
	}
	if c.Group == a.Group || c.Client == a.Client || c.EwsURL != other || c.Group.Anchor != "c@example.com" ||
		c.Group.EwsURL != other || c.Group.GroupingInformation != ewstest.GroupingInformationOf(ewstest.BackendOf("DB02")) {
		t.Fatalf("c: %+v", c)
	}
	if again := locate("a@example.com", false); again.Group != a.Group || gusCount(srv) != 3 {
		t.Fatalf("a again: group %v, %d GetUserSettings", again.Group == a.Group, gusCount(srv))
	}
	// The anchor moves to DB02: it joins c's group; d, arriving later on
	// DB01, gets a new group (b keeps the old one until it is asked again).
	if err := srv.MoveMailbox("a@example.com", "DB02"); err != nil {
		t.Fatal(err)
	}
	if moved := locate("a@example.com", true); moved.Group != c.Group || moved.Client != c.Client {
		t.Fatalf("a after the move: %+v", moved.Group)
	}
	d := locate("d@example.com", false)
	if d.Group == a.Group || d.Group.Anchor != "d@example.com" || d.Group.Name == a.Group.Name || d.Client != a.Client {
		t.Fatalf("d: %+v", d.Group)
	}
	if locate("b@example.com", false).Group != a.Group {
		t.Fatal("b left its group without a move")
	}
}

func newSiteURL(t *testing.T, srv *ewstest.Server) string { return newSite(t, srv).url() }
