package ews_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/mailsync/mailsync/ews"
)

// A streaming subscription delivered over a StreamingConnection: the
// connection reconnects by itself; the application reads one channel.
func ExampleClient_NewStreamingConnection() {
	ctx := context.Background()
	c, err := ews.New("https://mail.example.com/EWS/Exchange.asmx", &ews.Options{Auth: ews.NTLM(`EXAMPLE\sync`, "secret")})
	if err != nil {
		log.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true})
	if err != nil {
		log.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Add(sub.ID); err != nil {
		log.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		log.Fatal(err)
	}
	for ev := range sc.Events() {
		switch {
		case ev.Notification != nil:
			for _, e := range ev.Notification.Events {
				if e.IsFolder() {
					fmt.Println(e.Type, "folder", e.FolderID.ID, "in", e.ParentFolderID.ID)
				} else {
					fmt.Println(e.Type, "item", e.ItemID.ID, "in", e.ParentFolderID.ID)
				}
			}
		case ev.SubscriptionID != "":
			// This subscription is gone (or missed events): open a fresh
			// one and reconcile the folders.
			fmt.Println("subscription", ev.SubscriptionID, "failed:", ev.Err)
		default:
			fmt.Println("connection trouble, reconnecting:", ev.Err)
		}
	}
}

// Pulling events: AllEvents pages through MoreEvents and checks that the
// watermarks chain.
func ExampleClient_AllEvents() {
	ctx := context.Background()
	c, err := ews.New("https://mail.example.com/EWS/Exchange.asmx", &ews.Options{Auth: ews.Basic("sync", "secret")})
	if err != nil {
		log.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, DistinguishedFolders: []string{"inbox"}, Timeout: 30 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	watermark := sub.Watermark
	for n, err := range c.AllEvents(ctx, sub.ID, watermark, nil) {
		if errors.Is(err, ews.ErrWatermarkGap) || errors.Is(err, ews.ErrExpiredSubscription) {
			// Events were lost: resubscribe without a watermark and reconcile.
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		watermark = n.LastWatermark() // persist with the changes it covers
	}
}

// A push listener served over TLS with its own timeouts and connection
// limit, one secret callback path per subscription.
func ExamplePushListener() {
	ctx := context.Background()
	c, err := ews.New("https://mail.example.com/EWS/Exchange.asmx", nil)
	if err != nil {
		log.Fatal(err)
	}
	l, err := ews.NewPushListener(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	cert, err := tls.LoadX509KeyPair("listener.pem", "listener-key.pem")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ews/push/", l)
	srv, err := ews.NewPushServer(mux, &ews.PushServerOptions{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", ":8443")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	cb := l.Expect() // the first POST may beat the Subscribe response
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Push, AllFolders: true,
		StatusFrequency: 5 * time.Minute, URL: cb.URL("https://listener.example.com:8443/ews/push")})
	if err == nil {
		err = cb.Register(sub.ID, 5*time.Minute, sub.Watermark)
	}
	cb.Release()
	if err != nil {
		log.Fatal(err)
	}
	for ev := range l.Events() {
		if ev.Err != nil {
			fmt.Println(ev.SubscriptionID, ev.Err) // lost, gap or server error
			continue
		}
		fmt.Println(len(ev.Notification.Events), "events")
	}
}

// Splitting mailboxes into affinity groups of at most 200.
func ExampleGroupMailboxes() {
	groups := ews.GroupMailboxes("db7", []string{"zoe@example.com", "adam@example.com", "mia@example.com"})
	for _, g := range groups {
		fmt.Println(g.Name, g.Anchor, len(g.Members))
	}
	// Output:
	// db7-0 adam@example.com 3
}
