package ews

import (
	"bytes"
	"io"
	"testing"
)

// FuzzStreamReader feeds arbitrary bodies to the envelope splitter. It
// must never panic, and splitting must not depend on how the body is
// chunked: reading it one byte at a time gives the same messages as
// reading it whole.
func FuzzStreamReader(f *testing.F) {
	for _, b := range ntfGoldenFiles(f, "getstreamingevents") {
		f.Add(b)
	}
	f.Add([]byte(seNotify("S1", "A") + seStatus("OK") + seError("ErrorSubscriptionNotFound", "Closed", "S1")))
	f.Fuzz(func(t *testing.T, body []byte) {
		whole := drainStream(bytes.NewReader(body))
		split := drainStream(&chunkReader{data: body, n: 1})
		if len(whole) != len(split) {
			t.Fatalf("whole read gave %d results, byte-wise %d", len(whole), len(split))
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("result %d differs: %q vs %q", i, whole[i], split[i])
			}
		}
	})
}

// drainStream summarises what a StreamReader yields.
func drainStream(r io.Reader) []string {
	sr := newStreamReader(r)
	var out []string
	for {
		m, err := sr.Next()
		if err != nil {
			if err == io.EOF {
				return append(out, "EOF")
			}
			return append(out, "error")
		}
		s := "status=" + string(m.Status)
		for _, n := range m.Notifications {
			if n.SubscriptionID == "" || len(n.Events) == 0 {
				panic("notification without id or events")
			}
			s += " n:" + n.SubscriptionID
			for _, e := range n.Events {
				s += "," + string(e.Type) + "/" + e.ItemID.ID + e.FolderID.ID
			}
		}
		for _, e := range m.Errors {
			if e.Err == nil {
				panic("stream error without Err")
			}
			s += " e:" + e.Err.Error()
			for _, id := range e.SubscriptionIDs {
				s += "," + id
			}
		}
		out = append(out, s)
	}
}
