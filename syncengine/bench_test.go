package syncengine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// countingTransport counts HTTP round trips and bytes both ways.
type countingTransport struct {
	base           http.RoundTripper
	requests, sent atomic.Int64
	received       atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	c.sent.Add(max(r.ContentLength, 0))
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.received}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func benchClient(b testing.TB, url string) (*ews.Client, *countingTransport) {
	ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := ews.New(url, &ews.Options{HTTPClient: &http.Client{Transport: ct}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return c, ct
}

func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkInitialMirror mirrors 100,000 messages in 50 folders through the
// real HTTP stack into a fresh store per iteration (SyncOnce, the path of
// "syncdemo sync -once").
func BenchmarkInitialMirror(b *testing.B) {
	for _, fetch := range []Fetch{FetchSummary, FetchIDOnly} {
		name := map[Fetch]string{FetchSummary: "summary", FetchIDOnly: "idonly"}[fetch]
		b.Run(name, func(b *testing.B) {
			const messages, folders = 100_000, 50
			srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: testUser, Password: testPass, Address: testAddr}}, Logger: quietLogger()})
			defer srv.Close()
			if _, err := ewstest.Seed(srv.Mailbox(testAddr), ewstest.SeedOptions{Messages: messages, Folders: folders, Seed: 3}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var items int64
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				store, err := localstore.Open(filepath.Join(b.TempDir(), fmt.Sprintf("m%d.db", i)), &localstore.Options{Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				client, ct := benchClient(b, srv.URL)
				eng, _ := New(store, Config{Logger: quietLogger()})
				eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: client, Fetch: fetch})
				b.StartTimer()
				start := time.Now()
				if err := eng.SyncOnce(ctx); err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				b.StopTimer()
				m := eng.Metrics()
				items += m.Items
				b.ReportMetric(float64(m.Items)/el.Seconds(), "msgs/s")
				b.ReportMetric(float64(ct.received.Load())/el.Seconds()/1e6, "MB/s")
				b.ReportMetric(float64(ct.requests.Load()), "requests")
				eng.Close(ctx)
				store.Close()
				client.CloseIdleConnections()
				b.StartTimer()
			}
			b.ReportMetric(float64(peakRSS())/1e6, "peakRSS-MB")
			if items != int64(b.N)*messages {
				b.Fatalf("%d items mirrored over %d runs of %d", items, b.N, messages)
			}
		})
	}
}

// BenchmarkRecoveryVersusReplay runs both ways of recovering from a lost
// subscription on the same mailbox and the same outage: 1,000 folders,
// about 50,000 events during the outage touching 5 folders (read-flag
// flips on 200 items, plus 100 new items). Path A is the engine's
// recovery (a fresh subscription, batched GetFolder, SyncFolderItems for
// the folders that moved). Path B resubscribes with the old watermark,
// replays GetEvents to the end and fetches what the events name with
// GetItem. Both start from the same mirror and must end with the same one.
func BenchmarkRecoveryVersusReplay(b *testing.B) {
	for range b.N {
		runRecoveryVersusReplay(b)
	}
}

func runRecoveryVersusReplay(b *testing.B) {
	ctx := context.Background()
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: testUser, Password: testPass, Address: testAddr}}, Logger: quietLogger()})
	defer srv.Close()
	if err := srv.SetNotificationOptions(ewstest.NotificationOptions{MaxQueuedEvents: 1 << 20}); err != nil {
		b.Fatal(err)
	}
	box := srv.Mailbox(testAddr)
	if _, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: 20_000, Folders: 1000, Seed: 9}); err != nil {
		b.Fatal(err)
	}
	// Leave the seeded folders' commit second, so that the pairs the first
	// sync stores are certain (see package recovery), as they are for a
	// mailbox whose folders did not change in the second they were synced.
	(&fixture{box: box}).outOfCommitSecond()
	dir := b.TempDir()
	pathA := filepath.Join(dir, "a.db")
	store, err := localstore.Open(pathA, &localstore.Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	client, _ := benchClient(b, srv.URL)
	eng, _ := New(store, Config{Logger: quietLogger()})
	eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: client})
	if err := eng.SyncOnce(ctx); err != nil {
		b.Fatal(err)
	}
	eng.Close(ctx)
	// The subscription that will be lost, and its watermark.
	sub, err := client.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, AllFolders: true, Timeout: 30 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	oldWatermark := sub.Watermark
	// Both paths start from this mirror.
	pathB := filepath.Join(dir, "b.db")
	fb, err := os.Create(pathB)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Backup(ctx, fb); err != nil {
		b.Fatal(err)
	}
	fb.Close()
	store.Close()
	var folders int
	for _, f := range box.Folders() {
		if IsMailFolder(f.FolderClass) {
			folders++
		}
	}

	// The outage: the server restarts, then the mailbox changes.
	srv.Restart()
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond))) // leave the pairs' commit second
	touched := pickFolders(b, box, 5)
	var flipItems []string
	for _, fid := range touched {
		its, _ := box.Items(fid)
		for _, it := range its[:min(40, len(its))] {
			flipItems = append(flipItems, it.ID)
		}
	}
	for i := 0; i < 20; i++ {
		if _, err := box.Deliver(touched[i%len(touched)], testMessage(i)); err != nil {
			b.Fatal(err)
		}
	}
	for n := 0; n < 24_800; n++ {
		id := flipItems[n%len(flipItems)]
		if _, err := box.SetRead(id, n/len(flipItems)%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
	for i := 20; i < 100; i++ {
		if _, err := box.Deliver(touched[i%len(touched)], testMessage(i)); err != nil {
			b.Fatal(err)
		}
	}

	// Path A: the engine's recovery.
	storeA, err := localstore.Open(pathA, &localstore.Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer storeA.Close()
	clientA, ctA := benchClient(b, srv.URL)
	events := make(chan Event, 64)
	engA, _ := New(storeA, Config{Logger: quietLogger(), OnEvent: func(ev Event) {
		if ev.Kind == EventRecovery {
			events <- ev
		}
	}})
	engA.AddMailbox(ctx, Mailbox{Address: testAddr, Client: clientA})
	startA := time.Now()
	engA.Start(ctx)
	ev := <-events
	timeA := time.Since(startA)
	reqA, bytesA := ctA.requests.Load(), ctA.received.Load()+ctA.sent.Load()
	engA.Close(ctx)

	// Path B: resubscribe from the old watermark and replay.
	storeB, err := localstore.Open(pathB, &localstore.Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer storeB.Close()
	clientB, ctB := benchClient(b, srv.URL)
	startB := time.Now()
	nEvents, err := replay(ctx, clientB, storeB, oldWatermark)
	if err != nil {
		b.Fatal(err)
	}
	timeB := time.Since(startB)
	reqB, bytesB := ctB.requests.Load(), ctB.received.Load()+ctB.sent.Load()

	if d := sameItems(ctx, storeA, storeB, box); d != "" {
		b.Fatalf("the two paths ended with different mirrors: %s", d)
	}
	b.ReportMetric(float64(folders), "folders")
	b.ReportMetric(float64(nEvents), "events")
	b.ReportMetric(float64(ev.Recovery.Resynced), "A-resynced")
	b.ReportMetric(float64(reqA), "A-requests")
	b.ReportMetric(float64(reqB), "B-requests")
	b.ReportMetric(float64(bytesA)/1e6, "A-MB")
	b.ReportMetric(float64(bytesB)/1e6, "B-MB")
	b.ReportMetric(timeA.Seconds()*1000, "A-ms")
	b.ReportMetric(timeB.Seconds()*1000, "B-ms")
	b.ReportMetric(float64(reqB)/float64(reqA), "requests-ratio")
	b.ReportMetric(timeB.Seconds()/timeA.Seconds(), "time-ratio")
}

// pickFolders returns n user mail folders that hold at least 40 items.
func pickFolders(b *testing.B, box *ewstest.Mailbox, n int) []string {
	var ids []string
	for _, f := range box.Folders() {
		if f.DistinguishedID == "" && IsMailFolder(f.FolderClass) && f.TotalCount >= 40 {
			ids = append(ids, f.ID)
		}
	}
	sort.Strings(ids)
	if len(ids) < n {
		b.Fatalf("only %d folders with 40 items", len(ids))
	}
	return ids[:n]
}

// replay is path B: Subscribe from the old watermark, GetEvents to the end,
// then GetItem for every item the events name, applied to the mirror.
func replay(ctx context.Context, c *ews.Client, store *localstore.Store, watermark string) (int, error) {
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, AllFolders: true, Timeout: 30 * time.Minute, Watermark: watermark})
	if err != nil {
		return 0, err
	}
	defer c.Unsubscribe(ctx, sub.ID, nil)
	wanted := map[string]bool{}
	var order []string
	events := 0
	for n, err := range c.AllEvents(ctx, sub.ID, sub.Watermark, nil) {
		if err != nil {
			return events, err
		}
		for _, e := range n.Events {
			if e.Type == ews.EventStatus {
				continue
			}
			events++
			if !e.Folder && e.Type != ews.EventDeleted && !wanted[e.ID.ID] {
				wanted[e.ID.ID] = true
				order = append(order, e.ID.ID)
			}
		}
	}
	mb := localstore.Mailbox(testAddr)
	for start := 0; start < len(order); start += metadataBatch {
		chunk := order[start:min(start+metadataBatch, len(order))]
		ids := make([]ews.ItemID, len(chunk))
		for i, id := range chunk {
			ids[i] = ews.ItemID{ID: id}
		}
		res, err := c.GetItem(ctx, ews.GetItemRequest{Items: ids, Shape: ews.MessageMetadataShape(false)})
		if err != nil {
			return events, err
		}
		batch := localstore.Batch{Mailbox: mb}
		for i := range res {
			if res[i].Err == nil {
				batch.Items = append(batch.Items, StoreItem(&res[i].Item, ""))
			}
		}
		if err := store.Apply(ctx, batch); err != nil {
			return events, err
		}
	}
	return events, nil
}

// sameItems compares both mirrors with the server on every mail folder.
func sameItems(ctx context.Context, a, b *localstore.Store, box *ewstest.Mailbox) string {
	mb := localstore.Mailbox(testAddr)
	for _, sf := range box.Folders() {
		if !IsMailFolder(sf.FolderClass) {
			continue
		}
		items, _ := box.Items(sf.ID)
		for _, it := range items {
			ia, errA := a.Item(ctx, mb, localstore.ItemID(it.ID))
			ib, errB := b.Item(ctx, mb, localstore.ItemID(it.ID))
			if errA != nil || errB != nil || ia.IsRead != it.Message.IsRead || ib.IsRead != it.Message.IsRead {
				return fmt.Sprintf("folder %q item %q: A %v/%v, B %v/%v, server read %v", sf.DisplayName, it.Message.Subject, errA, ia.IsRead, errB, ib.IsRead, it.Message.IsRead)
			}
		}
	}
	return ""
}
