package localstore

import (
	"context"
	"testing"
)

func TestStore_Smoke(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	mb := Mailbox("a@example.com")
	var items []Item
	for i := range 10 {
		items = append(items, testItem("inbox", i))
	}
	mustApply(t, s, Batch{Mailbox: mb, Folders: []FolderInfo{{ID: "inbox", DisplayName: "Inbox"}}, Items: items})
	got := collect(t, s.Items(ctx, mb, "inbox", Query{Limit: 3}))
	if len(got) != 3 || got[0].ID != items[9].ID {
		t.Fatalf("got %v", got)
	}
	st, err := s.Stats(ctx, mb)
	if err != nil || st.Items != 10 {
		t.Fatalf("stats %+v %v", st, err)
	}
}
