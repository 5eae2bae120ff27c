package ewstest

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// BenchmarkSyncFolderItemsPage measures the fake's SyncFolderItems page
// computation and encoding (512 creates per page, IdOnly and Default
// shapes) without HTTP, so its cost can be told apart from a client's.
// items/s is reported.
func BenchmarkSyncFolderItemsPage(b *testing.B) {
	for _, base := range []string{"IdOnly", "Default"} {
		b.Run(base, func(b *testing.B) {
			srv := NewUnstartedServer(Options{Users: []User{{Name: "alice", Address: "alice@example.com"}}})
			defer srv.Close()
			m := srv.Mailbox("alice@example.com")
			msgs := make([]Message, 20000)
			for i := range msgs {
				msgs[i] = testMessage(fmt.Sprintf("bench %d", i))
				msgs[i].DateTimeReceived = time.Unix(1_700_000_000+int64(i), 0)
			}
			if _, err := m.DeliverBatch("inbox", msgs); err != nil {
				b.Fatal(err)
			}
			sh := &shape{base: base, props: map[string]bool{}, bodyType: "Best"}
			m.mu.Lock()
			f := m.dist["inbox"]
			m.mu.Unlock()
			state := ""
			items := 0
			b.ResetTimer()
			for b.Loop() {
				m.mu.Lock()
				st, err := m.itemState(f, state)
				if err != nil {
					m.mu.Unlock()
					b.Fatal(err)
				}
				chs, last := m.syncItemsLocked(f, st, nil, 512)
				r := &request{s: srv, op: "SyncFolderItems", w: newXW()}
				r.respBegin()
				r.msgOK()
				r.w.elem("m:SyncState", st.encode())
				r.w.elemBool("m:IncludesLastItemInRange", last)
				r.writeItemChanges(m, chs, sh)
				r.msgClose()
				r.respEnd()
				_ = r.envelope(r.w.String())
				m.mu.Unlock()
				items += len(chs)
				state = st.encode()
				if last {
					state = ""
				}
			}
			b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkDeliverBatch100k measures seeding: 100,000 messages into a
// fresh mailbox with DeliverBatch (msgs/s reported).
func BenchmarkDeliverBatch100k(b *testing.B) {
	msgs := make([]Message, 100_000)
	for i := range msgs {
		msgs[i] = testMessage("seed " + strings.Repeat("x", i%20))
		msgs[i].DateTimeReceived = time.Unix(1_700_000_000+int64(i), 0)
	}
	n := 0
	for b.Loop() {
		srv := NewUnstartedServer(Options{Users: []User{{Name: "alice", Address: "alice@example.com"}}})
		_, err := srv.Mailbox("alice@example.com").DeliverBatch("inbox", msgs)
		srv.Close()
		if err != nil {
			b.Fatal(err)
		}
		n += len(msgs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkGetItemRender measures rendering one item for GetItem with the
// Default shape and MIME (what a full-MIME mirror fetches per message).
func BenchmarkGetItemRender(b *testing.B) {
	srv := NewUnstartedServer(Options{Users: []User{{Name: "alice", Address: "alice@example.com"}}})
	defer srv.Close()
	m := srv.Mailbox("alice@example.com")
	msg := testMessage("render me")
	msg.Body = strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 40)
	info, err := m.Deliver("inbox", msg)
	if err != nil {
		b.Fatal(err)
	}
	sh := &shape{base: "Default", props: map[string]bool{}, bodyType: "Best", includeMIME: true}
	m.mu.Lock()
	it := m.items[info.ID]
	m.mu.Unlock()
	for b.Loop() {
		w := newXW()
		m.mu.Lock()
		m.writeItem(w, it, sh, true)
		m.mu.Unlock()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkSyncFolderItemsHTTP measures whole SyncFolderItems round trips
// over loopback (512-change IdOnly pages, the client only reading the
// bytes), so a client's pipeline benchmark can subtract the server's share.
func BenchmarkSyncFolderItemsHTTP(b *testing.B) {
	srv := NewServer(Options{Users: []User{{Name: "alice", Address: "alice@example.com"}}})
	defer srv.Close()
	m := srv.Mailbox("alice@example.com")
	msgs := make([]Message, 20000)
	for i := range msgs {
		msgs[i] = testMessage(fmt.Sprintf("bench %d", i))
	}
	if _, err := m.DeliverBatch("inbox", msgs); err != nil {
		b.Fatal(err)
	}
	client := srv.Client()
	state, items := "", 0
	for b.Loop() {
		body := envStart + `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
			<m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/></m:SyncFolderId><m:SyncState>` + state + `</m:SyncState>
			<m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>` + envEnd
		resp, err := client.Post(srv.URL, "text/xml; charset=utf-8", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("HTTP %d: %v", resp.StatusCode, err)
		}
		s := string(data)
		items += strings.Count(s, "<t:Create>")
		i, j := strings.Index(s, "<m:SyncState>"), strings.Index(s, "</m:SyncState>")
		state = s[i+len("<m:SyncState>") : j]
		if strings.Contains(s, "<m:IncludesLastItemInRange>true") {
			state = ""
		}
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
}
