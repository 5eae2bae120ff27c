package ews_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"golang.org/x/sync/errgroup"
)

// End-to-end proofs of authentication (NTLM, Basic, Bearer) and
// impersonation against the fake server.

// TestE2E_Auth runs a hierarchy sync and a GetFolder under every
// authentication mode the fake offers, and checks that wrong credentials
// give the typed unauthorized error and change nothing.
func TestE2E_Auth(t *testing.T) {
	for _, mode := range []string{ewstest.AuthNTLM, ewstest.AuthBasic, ewstest.AuthBearer} {
		t.Run(mode, func(t *testing.T) {
			srv, _ := e2eServer(t, mode, nil)
			ctx := context.Background()
			mb := srv.Mailbox(e2eAddress)
			if _, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 300, Folders: 6, Seed: 7}); err != nil {
				t.Fatal(err)
			}

			bad := e2eClient(t, srv, e2eAuth(mode, true), nil)
			_, err := bad.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}})
			var he *ews.HTTPError
			if !errors.Is(err, ews.ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong credentials: %v", err)
			}
			if he.IsTransient() {
				t.Error("401 classified as transient")
			}
			if strings.Contains(err.Error(), "not-the-password") || strings.Contains(err.Error(), "tok-forged") {
				t.Errorf("credentials in the error: %v", err)
			}

			c := e2eClient(t, srv, e2eAuth(mode, false), nil)
			var m hierarchyMirror
			root := ews.DistinguishedFolder("msgfolderroot")
			m.sync(ctx, t, c, &root)
			rootID, err := mb.FolderID("msgfolderroot")
			if err != nil {
				t.Fatal(err)
			}
			if want := realHierarchy(t, mb, rootID); !maps.Equal(m.folders, want) {
				t.Fatalf("hierarchy mirror has %d folders, the mailbox %d:\n%v\n%v", len(m.folders), len(want), m.folders, want)
			}
			res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}, Shape: ews.FolderSyncShape()})
			if err != nil || res[0].Err != nil {
				t.Fatalf("GetFolder inbox: %v %v", err, res)
			}
			inbox, _ := mb.Folder("inbox")
			if f := res[0].Folder; f.ID.ID != inbox.ID || f.TotalCount != inbox.TotalCount || f.UnreadCount != inbox.UnreadCount {
				t.Fatalf("GetFolder inbox = %+v, mailbox %+v", f, inbox)
			}
		})
	}
}

// TestE2E_StreamingNTLM runs a streaming connection under NTLM, which
// authenticates every hanging request on its own TCP connection, with two
// subscriptions (the inbox and all folders) on one request.
func TestE2E_StreamingNTLM(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNTLM, nil)
	ctx := context.Background()
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	inbox, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}, EventTypes: []ews.EventType{ews.EventNewMail}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(&ews.StreamingOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Add(inbox.ID, all.ID); err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mb := srv.Mailbox(e2eAddress)
	it, err := mb.Deliver("inbox", e2eMsg("streamed under NTLM"))
	if err != nil {
		t.Fatal(err)
	}
	// Another call on the same client while the hanging request is open.
	if res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}); err != nil || res[0].Err != nil {
		t.Fatalf("GetFolder beside the stream: %v %+v", err, res)
	}
	types := map[string][]ews.EventType{}
	deadline := time.After(20 * time.Second)
	for len(types[inbox.ID]) == 0 || !slices.Contains(types[all.ID], ews.EventCreated) {
		select {
		case ev := <-sc.Events():
			if ev.Err != nil {
				t.Fatalf("stream error: %+v", ev)
			}
			for _, e := range ev.Notification.Events {
				if e.ItemID.ID == it.ID {
					types[ev.Notification.SubscriptionID] = append(types[ev.Notification.SubscriptionID], e.Type)
				}
			}
		case <-deadline:
			t.Fatalf("events seen %v", types)
		}
	}
	if !slices.Equal(types[inbox.ID], []ews.EventType{ews.EventNewMail}) {
		t.Errorf("inbox subscription (NewMail only) saw %v", types[inbox.ID])
	}
}

// TestE2E_Impersonation acts on another mailbox through
// ExchangeImpersonation under NTLM: allowed for a service account that
// holds the right, refused with a typed fault for one that does not.
func TestE2E_Impersonation(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) {
		o.Users = append(o.Users,
			ewstest.User{Name: "svc", Password: "svc-pw", Address: "svc@example.com"},
			ewstest.User{Name: "mallory", Password: "m-pw", Address: "mallory@example.com"})
		o.ImpersonationUsers = []string{"svc"}
	})
	ctx := context.Background()
	aliceInbox, _ := srv.Mailbox(e2eAddress).FolderID("inbox")
	svcInbox, _ := srv.Mailbox("svc@example.com").FolderID("inbox")
	inbox := func(c *ews.Client) (string, error) {
		res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}})
		if err != nil {
			return "", err
		}
		return res[0].Folder.ID.ID, res[0].Err
	}
	newClient := func(user, pw string, im *ews.Impersonation) *ews.Client {
		c, err := ews.New(srv.URL, &ews.Options{Auth: ews.NTLM(user, pw), Impersonation: im, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	if id, err := inbox(newClient("svc", "svc-pw", nil)); err != nil || id != svcInbox {
		t.Fatalf("own inbox: %s %v", id, err)
	}
	if id, err := inbox(newClient("svc", "svc-pw", &ews.Impersonation{SMTPAddress: e2eAddress})); err != nil || id != aliceInbox {
		t.Fatalf("impersonated inbox: %s %v (alice's is %s)", id, err, aliceInbox)
	}
	_, err := inbox(newClient("mallory", "m-pw", &ews.Impersonation{SMTPAddress: e2eAddress}))
	var fe *ews.FaultError
	if !errors.Is(err, ews.ErrImpersonateUserDenied) || !errors.As(err, &fe) || fe.IsTransient() {
		t.Fatalf("impersonation without the right: %v", err)
	}
}

// isNTLMAuthenticate reports whether r carries an NTLM AUTHENTICATE
// message (the handshake's last leg, which also carries the request).
func isNTLMAuthenticate(r *http.Request) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "NTLM ")
	if !ok {
		v, ok = strings.CutPrefix(r.Header.Get("Authorization"), "Negotiate ")
	}
	msg, err := base64.StdEncoding.DecodeString(v)
	return ok && err == nil && len(msg) > 12 && string(msg[:8]) == "NTLMSSP\x00" && msg[8] == 3
}

// TestE2E_NTLMTransportErrors checks that a failure on the NTLM
// handshake's authenticated leg is reported as what it is: a dropped
// connection as the transport error (as without authentication), a
// cancelled call as the context's error — never as HTTP 401, which would
// read as bad credentials.
func TestE2E_NTLMTransportErrors(t *testing.T) {
	entered := make(chan struct{}, 1)
	var hold atomic.Bool
	stall := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hold.Load() && isNTLMAuthenticate(r) {
				// Read the body so that the server watches the
				// connection and cancels r's context when it closes.
				_, _ = io.Copy(io.Discard, r.Body)
				entered <- struct{}{}
				<-r.Context().Done() // until the client goes away
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, stall) })
	var sleeps []time.Duration
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), &sleeps)
	req := ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}

	// One drop: GetFolder is idempotent, so the client sends it again.
	srv.Faults().DropConnections(1)
	if res, err := c.GetFolder(context.Background(), req); err != nil || res[0].Err != nil || len(sleeps) != 1 {
		t.Fatalf("GetFolder after one dropped connection: %v (retry waits %v)", err, sleeps)
	}
	// As many drops as attempts: the network error comes back typed.
	srv.Faults().DropConnections(4) // RetryPolicy's default MaxAttempts
	_, err := c.GetFolder(context.Background(), req)
	var he *ews.HTTPError
	var ne *ews.NetworkError
	if !errors.As(err, &ne) || !ne.IsTransient() || errors.Is(err, ews.ErrUnauthorized) || errors.As(err, &he) {
		t.Errorf("dropped connections under NTLM: %v", err)
	}
	if res, err := c.GetFolder(context.Background(), req); err != nil || res[0].Err != nil {
		t.Fatalf("after the drop: %v", err)
	}

	hold.Store(true)
	c.CloseIdleConnections() // a fresh handshake
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.GetFolder(ctx, req)
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ews.ErrUnauthorized) {
		t.Fatalf("call cancelled during the handshake: %v", err)
	}
}

// TestE2E_NTLMLanes mirrors several folders concurrently through a
// client limited to two NTLM connections: every call completes, the
// mirrors equal the mailbox, and the server sees no more than two client
// connections, each authenticated once and then reused.
func TestE2E_NTLMLanes(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]int{}
	handshakes := 0
	watch := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			conns[r.RemoteAddr]++
			if isNTLMAuthenticate(r) {
				handshakes++
			}
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, watch) })
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	seeded, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 3000, Folders: 10, Seed: 13})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ews.New(srv.URL, &ews.Options{Auth: e2eAuth(ewstest.AuthNTLM, false), MaxConnections: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	folders := slices.Sorted(maps.Keys(seeded.Counts))
	mirrors := make([]*itemMirror, len(folders))
	var g errgroup.Group
	for i, f := range folders {
		mirrors[i] = &itemMirror{folder: f}
		g.Go(func() error { return syncAll(ctx, t, c, mirrors[i], 100) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, m := range mirrors {
		if d := diffItems(m.items, realItems(t, mb, m.folder)); d != "" {
			t.Errorf("folder %s:%s", m.folder, d)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) > 2 || handshakes != len(conns) {
		t.Errorf("%d client connections %v, %d handshakes", len(conns), conns, handshakes)
	}
}
