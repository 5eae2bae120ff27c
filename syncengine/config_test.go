package syncengine

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

func TestConfig_Validate(t *testing.T) {
	bad := []Config{
		{Quiet: time.Second, MaxDelay: time.Millisecond},
		{PullTimeout: 90 * time.Second},
		{PullInterval: time.Hour},
		{Push: PushConfig{StatusFrequency: 30 * time.Second}},
		{Push: PushConfig{URL: "ftp://x"}},
		{Push: PushConfig{URL: "https://x", TLSConfig: &tls.Config{Certificates: []tls.Certificate{{}}}}}, // TLS without Listen
		{Push: PushConfig{Listen: "127.0.0.1:0", TLSConfig: &tls.Config{}}},                               // no certificate
	}
	for i, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("config %d: %v, want ErrInvalidConfig", i, err)
		}
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil store: %v", err)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Streaming, Pull, Push} {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Fatalf("%v: %v %v", m, got, err)
		}
	}
	if _, err := ParseMode("carrier-pigeon"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
}

func TestEngine_FolderFilter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 400, 8)
	inbox, _ := f.box.FolderID("inbox")
	sub, err := f.box.CreateFolder(inbox, "Projects", "IPF.Note")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.box.Deliver(sub.ID, testMessage(1)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		filter FolderFilter
		want   func(path string, class string) bool
	}{
		{"mail folders by default", FolderFilter{}, func(_, class string) bool { return IsMailFolder(class) }},
		{"include inbox subtree", FolderFilter{Include: []string{"inbox"}}, func(p, _ string) bool { return p == "Inbox" || strings.HasPrefix(p, "Inbox/") }},
		{"include by path", FolderFilter{Include: []string{"Inbox/Projects"}}, func(p, _ string) bool { return p == "Inbox/Projects" }},
		{"exclude deleted items and the projects subtree", FolderFilter{Exclude: []string{"deleteditems", "inbox/projects"}},
			func(p, class string) bool {
				return IsMailFolder(class) && p != "Deleted Items" && p != "Inbox/Projects"
			}},
		{"all", FolderFilter{All: true}, func(string, string) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.reopenEmpty()
			eng, err := New(f.store, testConfig(nil))
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: f.client(), Folders: tt.filter}); err != nil {
				t.Fatal(err)
			}
			if err := eng.SyncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			eng.Close(ctx)
			paths := map[localstore.FolderID]string{}
			var synced, want []string
			for lf, err := range f.store.Folders(ctx, localstore.Mailbox(testAddr)) {
				if err != nil {
					t.Fatal(err)
				}
				p := lf.DisplayName
				if pp, ok := paths[lf.ParentID]; ok {
					p = pp + "/" + p
				}
				paths[lf.ID] = p
				if lf.SyncState != "" {
					synced = append(synced, p)
				}
				if tt.want(p, lf.FolderClass) {
					want = append(want, p)
				}
			}
			slices.Sort(synced)
			slices.Sort(want)
			if !slices.Equal(synced, want) || len(synced) == 0 {
				t.Fatalf("synced %v\nwant   %v", synced, want)
			}
		})
	}
}
