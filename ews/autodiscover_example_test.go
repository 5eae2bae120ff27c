package ews_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// From an email address to the EWS client: Autodiscover against the fake
// over loopback http (a real deployment leaves URL empty and lets the
// domain's candidates be tried), then a client for the URL it found.
func ExampleAutodiscoverer_Discover() {
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: "ann", Password: "pw", Address: "ann@example.com"}},
		Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()

	opts := &ews.Options{Auth: ews.Basic("ann", "pw")}
	ad, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{Client: opts, URL: srv.AutodiscoverURL()})
	if err != nil {
		log.Fatal(err)
	}
	s, err := ad.Discover(context.Background(), "ann@example.com")
	if err != nil {
		log.Fatal(err)
	}
	client, err := s.NewClient(opts)
	if err != nil {
		log.Fatal(err)
	}
	_ = client
	fmt.Println(s.EwsURL() == srv.URL, s.GroupingInformation)

	_, err = ad.Discover(context.Background(), "nobody@example.com")
	fmt.Println(errors.Is(err, ews.AutodiscoverInvalidUser))
	// Output:
	// true MBX-DB01
	// true
}

// Affinity groups for many mailboxes: one batched Autodiscover, then
// groups of at most 200 sharing an EWS URL and GroupingInformation.
func ExampleGroupByAffinity() {
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{
		{Name: "a", Address: "a@example.com", Database: "DB01"},
		{Name: "b", Address: "b@example.com", Database: "DB02"},
		{Name: "c", Address: "c@example.com", Database: "DB01"},
	}, Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	ad, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{URL: srv.AutodiscoverURL()})
	if err != nil {
		log.Fatal(err)
	}
	rs, err := ad.DiscoverAll(context.Background(), []string{"c@example.com", "b@example.com", "a@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	var found []*ews.UserSettings
	for _, r := range rs {
		if r.Err != nil {
			log.Fatal(r.Err)
		}
		found = append(found, r.Settings)
	}
	for _, g := range ews.GroupByAffinity("ad", found) {
		fmt.Println(g.Name, g.Anchor, g.Members)
	}
	// Output:
	// ad-MBX-DB01-0 a@example.com [a@example.com c@example.com]
	// ad-MBX-DB02-0 b@example.com [b@example.com]
}
