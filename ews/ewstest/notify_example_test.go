package ewstest_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// A pull subscription over SOAP, then a mailbox move: the subscription
// ends with the code Exchange uses.
func ExampleServer_MoveMailbox() {
	srv := ewstest.NewServer(ewstest.Options{
		Clock:  debouncetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Users:  []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer srv.Close()
	if err := srv.SetNotificationOptions(ewstest.NotificationOptions{HangingConnectionLimit: 10}); err != nil {
		panic(err)
	}
	soap := func(op string) string {
		body := `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Body>` + op + `</soap:Body></soap:Envelope>`
		resp, err := srv.Client().Post(srv.URL, "text/xml; charset=utf-8", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	between := func(s, a, b string) string { s = s[strings.Index(s, a)+len(a):]; return s[:strings.Index(s, b)] }

	out := soap(`<m:Subscribe><m:PullSubscriptionRequest SubscribeToAllFolders="true"><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`)
	id, wm := between(out, "<m:SubscriptionId>", "<"), between(out, "<m:Watermark>", "<")
	getEvents := `<m:GetEvents><m:SubscriptionId>` + id + `</m:SubscriptionId><m:Watermark>` + wm + `</m:Watermark></m:GetEvents>`
	fmt.Println(between(soap(getEvents), "<m:ResponseCode>", "<"), srv.NotificationStats().Subscriptions)

	if err := srv.MoveMailbox("alice@example.com", "DB02"); err != nil {
		panic(err)
	}
	fmt.Println(between(soap(getEvents), "<m:ResponseCode>", "<"), srv.NotificationStats().Subscriptions)
	// Output:
	// NoError 1
	// ErrorMailboxMoveInProgress 0
}
