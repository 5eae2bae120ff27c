package notify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

func ExampleBroker_GetEvents() {
	clk := debouncetest.NewClock(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	b, _ := notify.New(&notify.Options{Clock: clk})
	defer b.Close()
	ctx := context.Background()
	sub, _ := b.Subscribe(ctx, notify.SubscribeRequest{Kind: notify.Pull, Mailbox: "alice@example.com", AllFolders: true,
		EventTypes: []notify.EventKind{notify.CreatedEvent}, Timeout: 10 * time.Minute})
	b.Publish("alice@example.com", notify.Event{Kind: notify.CreatedEvent, ID: notify.ID{ID: "I1"}, ParentFolderID: notify.ID{ID: "INBOX"}})

	n, _ := b.GetEvents(ctx, notify.GetEventsRequest{SubscriptionID: sub.ID, Watermark: sub.Watermark})
	fmt.Println(n.Events[0].Kind, n.Events[0].ID.ID, n.PreviousWatermark == sub.Watermark)
	idle, _ := b.GetEvents(ctx, notify.GetEventsRequest{SubscriptionID: sub.ID, Watermark: n.Events[0].Watermark})
	fmt.Println(idle.Events[0].Kind, idle.Events[0].Watermark == n.Events[0].Watermark)

	clk.Advance(10 * time.Minute) // no GetEvents within the Timeout
	_, err := b.GetEvents(ctx, notify.GetEventsRequest{SubscriptionID: sub.ID, Watermark: sub.Watermark})
	fmt.Println(err)
	// Output:
	// CreatedEvent I1 true
	// StatusEvent true
	// notify: ErrorExpiredSubscription: The subscription has expired.
}

func ExampleBroker_OpenStream() {
	clk := debouncetest.NewClock(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	b, _ := notify.New(&notify.Options{Clock: clk})
	defer b.Close()
	ctx := context.Background()
	sub, _ := b.Subscribe(ctx, notify.SubscribeRequest{Kind: notify.Streaming, Mailbox: "alice@example.com", AllFolders: true,
		EventTypes: []notify.EventKind{notify.NewMailEvent}})
	st, _ := b.OpenStream(ctx, notify.StreamRequest{SubscriptionIDs: []string{sub.ID}, ConnectionTimeout: time.Minute})
	defer st.Close()

	b.Publish("alice@example.com", notify.Event{Kind: notify.NewMailEvent, ID: notify.ID{ID: "I1"}, ParentFolderID: notify.ID{ID: "INBOX"}})
	clk.Advance(time.Minute) // 30 s keep-alive, then Closed at the ConnectionTimeout
	for {
		f, err := st.Next(ctx)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("notifications=%d status=%q\n", len(f.Notifications), f.Status)
	}
	// Output:
	// notifications=0 status="OK"
	// notifications=1 status=""
	// notifications=0 status="OK"
	// notifications=0 status="Closed"
	// EOF
}
