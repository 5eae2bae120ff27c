package ews

import (
	"net/http"
	"testing"
	"time"
)

// FuzzDecodeSendNotification checks the SendNotification decoder never
// panics, that every message it returns is well formed, and that the
// listener answers any body with a defined status and no state change
// unless it answered OK.
func FuzzDecodeSendNotification(f *testing.F) {
	for _, b := range ntfGoldenFiles(f, "sendnotification") {
		f.Add(b)
	}
	f.Add(pushNotification("S1", "W0", "W1"))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := decodeSendNotification(body)
		if err == nil {
			if len(msgs) == 0 {
				t.Fatal("no messages and no error")
			}
			for _, m := range msgs {
				if (m.Notification == nil) == (m.Err == nil) {
					t.Fatalf("message %+v: want exactly one of Notification and Err", m)
				}
				if m.Notification != nil && (m.SubscriptionID == "" || len(m.Notification.Events) == 0) {
					t.Fatalf("notification without id or events: %+v", m.Notification)
				}
			}
		}
		l, err := NewPushListener(&PushListenerOptions{Clock: newTestClock(), MaxBodyBytes: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		path := register(t, l, "S1", time.Minute, "W0")
		w := post(t, l, path, xmlCT, body)
		switch w.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusNotFound:
			if wm, _ := l.Watermark("S1"); wm != "W0" {
				t.Fatalf("rejected body changed state to %q", wm)
			}
			if len(l.Events()) != 0 {
				t.Fatal("rejected body delivered an event")
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
