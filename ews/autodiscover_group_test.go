package ews_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// TestGroupByAffinity_1000Mailboxes discovers 1,000 mailboxes spread
// unevenly over five backends (one behind another EWS URL) and checks the
// groups against the fake's placement: at most 200 members, one backend,
// GroupingInformation and EWS URL per group, the sorted-first member as
// anchor, every mailbox in exactly one group, and no more groups than
// needed. Then a mailbox moves and, once forgotten, lands in its new
// backend's group.
func TestGroupByAffinity_1000Mailboxes(t *testing.T) {
	// Weights 9:6:3:1:1 over DB01..DB05 give 450, 300, 150, 50, 50.
	var dbs []string
	for i, w := range []int{9, 6, 3, 1, 1} {
		for range w {
			dbs = append(dbs, fmt.Sprintf("DB%02d", i+1))
		}
	}
	srv := adServer(t, 1000, dbs...)
	other := "http://" + strings.TrimPrefix(srv.URL, "http://") + "?site=two" // another EWS URL
	srv.SetBackendEwsURL(ewstest.BackendOf("DB05"), other)
	a := adClient(t, newADRoutes(srv), adClock(), ews.AutodiscoverOptions{URL: srv.AutodiscoverURL()})

	addrs := make([]string, 1000)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("u%d@example.com", i)
	}
	rs, err := a.DiscoverAll(context.Background(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	if n := gusCount(srv); n != 10 {
		t.Fatalf("%d GetUserSettings requests for 1,000 mailboxes, want 10", n)
	}
	settings := make([]*ews.UserSettings, len(rs))
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Address, r.Err)
		}
		settings[i] = r.Settings
	}
	groups := ews.GroupByAffinity("ad", settings)

	perBackend := map[string]int{}
	for _, addr := range addrs {
		b, _ := srv.MailboxBackend(addr)
		perBackend[b]++
	}
	wantGroups := 0
	for _, n := range perBackend {
		wantGroups += (n + ews.MaxStreamingSubscriptions - 1) / ews.MaxStreamingSubscriptions
	}
	if len(groups) != wantGroups {
		t.Fatalf("%d groups, want %d for backends %v", len(groups), wantGroups, perBackend)
	}
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, g := range groups {
		if len(g.Members) == 0 || len(g.Members) > ews.MaxStreamingSubscriptions {
			t.Fatalf("group %s has %d members", g.Name, len(g.Members))
		}
		if names[g.Name] {
			t.Fatalf("duplicate group name %s", g.Name)
		}
		names[g.Name] = true
		if g.Anchor != slices.Min(g.Members) {
			t.Fatalf("group %s anchor %s, want %s", g.Name, g.Anchor, slices.Min(g.Members))
		}
		backend, _ := srv.MailboxBackend(g.Anchor)
		wantURL := srv.URL
		if backend == ewstest.BackendOf("DB05") {
			wantURL = other
		}
		if g.GroupingInformation != ewstest.GroupingInformationOf(backend) || g.EwsURL != wantURL {
			t.Fatalf("group %s: grouping %q url %q, want %q %q", g.Name, g.GroupingInformation, g.EwsURL,
				ewstest.GroupingInformationOf(backend), wantURL)
		}
		for _, m := range g.Members {
			if b, _ := srv.MailboxBackend(m); b != backend {
				t.Fatalf("group %s mixes %s (%s) with backend %s", g.Name, m, b, backend)
			}
			if seen[m] {
				t.Fatalf("%s in two groups", m)
			}
			seen[m] = true
		}
	}
	if len(seen) != len(addrs) {
		t.Fatalf("%d mailboxes grouped, want %d", len(seen), len(addrs))
	}

	// A move: the cached settings still name the old backend until the
	// mailbox is forgotten, as the engine does on ErrorMailboxMoveInProgress.
	if err := srv.MoveMailbox("u0@example.com", "DB04"); err != nil {
		t.Fatal(err)
	}
	s, _ := a.Discover(context.Background(), "u0@example.com")
	if s.GroupingInformation != ewstest.GroupingInformationOf(ewstest.BackendOf("DB01")) {
		t.Fatalf("cached grouping %q", s.GroupingInformation)
	}
	a.Forget("u0@example.com")
	s, err = a.Discover(context.Background(), "u0@example.com")
	if err != nil || s.GroupingInformation != ewstest.GroupingInformationOf(ewstest.BackendOf("DB04")) {
		t.Fatalf("after the move: %+v, %v", s, err)
	}
}

func TestGroupByAffinity_Names(t *testing.T) {
	mk := func(addr, url, gi string) *ews.UserSettings {
		return &ews.UserSettings{Address: addr, ExternalEwsURL: url, GroupingInformation: gi}
	}
	groups := ews.GroupByAffinity("p", []*ews.UserSettings{
		mk("Zed@x.com", "https://b/EWS/Exchange.asmx", "G 1"),
		mk("amy@x.com", "https://a/EWS/Exchange.asmx", "G 1"),
		nil,
		mk("bob@x.com", "https://a/EWS/Exchange.asmx", ""),
		mk("cat@x.com", "https://a/EWS/Exchange.asmx", "G 1"),
	})
	type row struct{ name, anchor, url, gi string }
	var got []row
	for _, g := range groups {
		got = append(got, row{g.Name, g.Anchor, g.EwsURL, g.GroupingInformation})
	}
	want := []row{
		{"p-default-0", "bob@x.com", "https://a/EWS/Exchange.asmx", ""},
		{"p-G_1-0", "amy@x.com", "https://a/EWS/Exchange.asmx", "G 1"},
		{"p-G_1~1-0", "zed@x.com", "https://b/EWS/Exchange.asmx", "G 1"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("groups %+v, want %+v", got, want)
	}
	if !slices.Equal(groups[1].Members, []string{"amy@x.com", "cat@x.com"}) {
		t.Fatalf("members %v", groups[1].Members)
	}
}
