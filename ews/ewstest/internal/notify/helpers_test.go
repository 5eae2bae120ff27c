package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
	inbox = "INBOX"
	root  = "ROOT"
	other = "F9"
)

func newTestBroker(t *testing.T, o *Options) (*Broker, *debouncetest.Clock) {
	t.Helper()
	clk := debouncetest.NewClock(t0)
	var opts Options
	if o != nil {
		opts = *o
	}
	opts.Clock = clk
	b, err := New(&opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, clk
}

// newMail returns the events Exchange raises for one delivered message.
func newMail(item string, unread int) []Event {
	return []Event{
		{Kind: CreatedEvent, ID: ID{ID: item, ChangeKey: "CK"}, ParentFolderID: ID{ID: inbox}},
		{Kind: NewMailEvent, ID: ID{ID: item, ChangeKey: "CK"}, ParentFolderID: ID{ID: inbox}},
		{Kind: ModifiedEvent, Folder: true, ID: ID{ID: inbox}, ParentFolderID: ID{ID: root}, UnreadCount: &unread},
	}
}

func created(item, folder string) Event {
	return Event{Kind: CreatedEvent, ID: ID{ID: item}, ParentFolderID: ID{ID: folder}}
}

var allKinds = []EventKind{CopiedEvent, CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, NewMailEvent, FreeBusyChangedEvent}

func pullReq(mailbox string) SubscribeRequest {
	return SubscribeRequest{Kind: Pull, Principal: mailbox, Mailbox: mailbox, AllFolders: true, EventTypes: allKinds, Timeout: 30 * time.Minute}
}

func streamReq(mailbox string) SubscribeRequest {
	return SubscribeRequest{Kind: Streaming, Principal: mailbox, Mailbox: mailbox, AllFolders: true, EventTypes: allKinds}
}

func mustSubscribe(t *testing.T, b *Broker, r SubscribeRequest) Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), r)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return s
}

func getEvents(t *testing.T, b *Broker, principal, id, wm string) Notification {
	t.Helper()
	n, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: principal, SubscriptionID: id, Watermark: wm})
	if err != nil {
		t.Fatalf("GetEvents: %v", err)
	}
	return n
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func kinds(n Notification) []EventKind {
	var out []EventKind
	for _, e := range n.Events {
		out = append(out, e.Kind)
	}
	return out
}

// seqOf decodes a watermark's sequence number.
func seqOf(t *testing.T, wm string) uint64 {
	t.Helper()
	_, seq, ok := decodeWatermark(wm)
	if !ok {
		t.Fatalf("bad watermark %q", wm)
	}
	return seq
}
