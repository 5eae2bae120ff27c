package syncengine

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

// TestEngine_FetchStrategiesAndMIME mirrors with each fetch strategy, with
// and without MIME, then follows live changes: the mirror equals the server
// and, with MIME on, every mirrored item has its MIME content.
func TestEngine_FetchStrategiesAndMIME(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fetch Fetch
		mime  bool
	}{
		{"summary", FetchSummary, false},
		{"summary+mime", FetchSummary, true},
		{"idonly", FetchIDOnly, false},
		{"idonly+mime", FetchIDOnly, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, 250, 3)
			events := make(chan Event, 1024)
			eng := startEngine(t, f, Mailbox{Fetch: tc.fetch, MIME: tc.mime}, testConfig(events))
			waitEvent(t, events, EventInitialSync, 20*time.Second)
			f.step(60, 9)
			f.converge(ctx, 20*time.Second)
			mb := localstore.Mailbox(testAddr)
			st, err := f.store.Stats(ctx, mb)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.mime {
				if st.MIMEItems != 0 {
					t.Fatalf("%d MIME items without MIME on", st.MIMEItems)
				}
				return
			}
			if st.MIMEItems != st.Items {
				t.Fatalf("%d of %d items have MIME", st.MIMEItems, st.Items)
			}
			for lf, err := range f.store.Folders(ctx, mb) {
				if err != nil {
					t.Fatal(err)
				}
				for it, err := range f.store.Items(ctx, mb, lf.ID, localstore.Query{Limit: 5}) {
					if err != nil {
						t.Fatal(err)
					}
					data, err := f.store.MIMEBytes(ctx, mb, it.ID)
					if err != nil || !bytes.Contains(data, []byte("Subject:")) {
						t.Fatalf("MIME of %q: %v %.80q", it.Subject, err, data)
					}
				}
			}
			if m := eng.Metrics(); m.RequestsByOp["GetItem"] == 0 {
				t.Fatalf("no GetItem call: %v", m.RequestsByOp)
			}
		})
	}
}
