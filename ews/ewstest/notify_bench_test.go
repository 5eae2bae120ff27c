package ewstest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// BenchmarkStreamingHTTP200 measures the server side of one
// GetStreamingEvents connection carrying 200 subscriptions (200 mailboxes):
// each iteration publishes one event per mailbox and reads the envelopes
// off the chunked HTTP response. notifications/s is the figure.
func BenchmarkStreamingHTTP200(b *testing.B) {
	var users []User
	for i := range notify.MaxStreamingSubscriptions {
		users = append(users, User{Name: fmt.Sprintf("u%03d", i), Password: "x", Address: fmt.Sprintf("u%03d@example.com", i)})
	}
	srv := NewServer(Options{Users: users, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer srv.Close()
	post := func(anchor, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envStart+body+envEnd))
		req.Header.Set("X-AnchorMailbox", anchor)
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		return resp
	}
	var ids strings.Builder
	for _, u := range users {
		resp := post(u.Address, `<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders="true"><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>`)
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := string(data)
		i := strings.Index(s, "<m:SubscriptionId>")
		if i < 0 {
			b.Fatalf("Subscribe: %s", s)
		}
		s = s[i+len("<m:SubscriptionId>"):]
		ids.WriteString("<t:SubscriptionId>" + s[:strings.Index(s, "<")] + "</t:SubscriptionId>")
	}
	resp := post(users[0].Address, `<m:GetStreamingEvents><m:SubscriptionIds>`+ids.String()+`</m:SubscriptionIds><m:ConnectionTimeout>30</m:ConnectionTimeout></m:GetStreamingEvents>`)
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 1<<16)
	// readNotifications reads the body tag by tag until n
	// </m:Notification> end tags have gone by.
	readNotifications := func(n int) {
		for got := 0; got < n; {
			tag, err := r.ReadSlice('>')
			if err != nil {
				b.Fatalf("stream: %v", err)
			}
			if bytes.HasSuffix(tag, []byte("</m:Notification>")) {
				got++
			}
		}
	}
	br := srv.broker()
	ev := notify.Event{Kind: notify.CreatedEvent, ID: notify.ID{ID: "I1", ChangeKey: "CK"}, ParentFolderID: notify.ID{ID: "F1"}}
	b.ReportAllocs()
	for b.Loop() {
		for _, u := range users {
			br.Publish(u.Address, ev)
		}
		readNotifications(len(users))
	}
	b.ReportMetric(float64(b.N*len(users))/b.Elapsed().Seconds(), "notifications/s")
}
