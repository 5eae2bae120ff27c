package ews

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// findNode returns the first element named local in document order.
func findNode(n *etree.Element, local string, depth int) *etree.Element {
	if n == nil || depth > ntfMaxDepth {
		return nil
	}
	if n.Tag == local {
		return n
	}
	for c := range ewsxml.Children(n) {
		if f := findNode(c, local, depth+1); f != nil {
			return f
		}
	}
	return nil
}

// FuzzDecodeNotification runs the notification decoder on the first
// Notification element of arbitrary documents: it must not panic, and a
// decoded notification always names its subscription and holds events
// whose required parts are present.
func FuzzDecodeNotification(f *testing.F) {
	for _, prefix := range []string{"getevents", "sendnotification", "getstreamingevents"} {
		for _, b := range ntfGoldenFiles(f, prefix) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		root, err := parseNtfDocument(bytes.NewReader(doc))
		if err != nil {
			return
		}
		nn := findNode(root, "Notification", 0)
		if nn == nil {
			return
		}
		n, err := decodeNotification(nn)
		if err != nil {
			return
		}
		if n.SubscriptionID == "" || len(n.Events) == 0 {
			t.Fatalf("decoded %+v", n)
		}
		for _, e := range n.Events {
			if e.Type != EventStatus && (e.ItemID.ID == "" && e.FolderID.ID == "" || e.TimeStamp.IsZero()) {
				t.Fatalf("event without id or time: %+v", e)
			}
		}
		_ = n.LastWatermark()
	})
}
