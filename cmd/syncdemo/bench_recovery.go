package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// recoveryResult compares the engine's recovery after a lost subscription
// (A) with resubscribing from the old watermark and replaying its events
// (B), on the same mailbox, outage and starting mirror.
type recoveryResult struct {
	// Folders is the number of mail folders; Messages those seeded;
	// Events the events B replayed; Touched the folders the outage
	// changed.
	Folders  int          `json:"folders"`
	Messages int          `json:"messages"`
	Events   int          `json:"events"`
	Touched  int          `json:"touched"`
	A        recoveryPath `json:"a"`
	B        recoveryPath `json:"b"`
	// RequestRatio, BytesRatio and TimeRatio are B's figures over A's.
	RequestRatio float64 `json:"requestRatio"`
	BytesRatio   float64 `json:"bytesRatio"`
	TimeRatio    float64 `json:"timeRatio"`
	// SameMirror is true when both ended with the server's items and read
	// flags (the run fails otherwise).
	SameMirror bool `json:"sameMirror"`
}

// recoveryPath is one way of recovering.
type recoveryPath struct {
	// Requests counts HTTP round trips, Bytes both ways.
	Requests int64   `json:"requests"`
	Bytes    int64   `json:"bytes"`
	Ms       float64 `json:"ms"`
	// Resynced counts folders synced with SyncFolderItems (A);
	// ItemsFetched the items read with GetItem (B).
	Resynced     int `json:"resynced"`
	ItemsFetched int `json:"itemsFetched"`
	// Recheck is the engine's recheck after the recovery (A), measured
	// apart: it runs afterwards, paced, between live batches.
	Recheck *recheckCost `json:"recheck,omitempty"`
}

// recheckCost is what the recheck that follows a recovery cost.
type recheckCost struct {
	Folders  int     `json:"folders"`
	Requests int64   `json:"requests"`
	Bytes    int64   `json:"bytes"`
	Ms       float64 `json:"ms"`
}

// recovery runs the recovery-versus-replay scenario.
func (r *benchRun) recovery(ctx context.Context, res *benchResult) error {
	c := r.cfg
	messages := 20 * c.recoveryFolders
	r.logf("recovery: seeding %d messages in %d folders", messages, c.recoveryFolders)
	srv := ewstest.NewServer(ewstest.Options{
		Users:  []ewstest.User{{Name: benchUser, Password: benchPassword, Address: benchAddress}},
		Auth:   ewstest.AuthOptions{Mode: ewstest.AuthBasic},
		Logger: r.quiet,
	})
	defer srv.Close()
	if err := srv.SetNotificationOptions(ewstest.NotificationOptions{
		MaxQueuedEvents: max(1<<20, 2*c.recoveryEvents),
		MaxLogEvents:    max(200_000, 2*c.recoveryEvents),
	}); err != nil {
		return err
	}
	box := srv.Mailbox(benchAddress)
	if _, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: messages, Folders: c.recoveryFolders, Seed: 9}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// Leave the seeded folders' commit second, so that the pairs the first
	// sync stores are certain (see package recovery), as they are for a
	// mailbox whose folders did not change in the second they were synced.
	if err := leaveCommitSecond(ctx, box); err != nil {
		return err
	}
	pathA := filepath.Join(r.dir, "recovery-a.db")
	store, err := localstore.Open(pathA, &localstore.Options{NoSync: true, Logger: r.quiet})
	if err != nil {
		return err
	}
	ct := newCountingTransport()
	client, err := r.newClient(srv.URL, ct, ews.Options{})
	if err != nil {
		store.Close()
		return err
	}
	eng, err := syncengine.New(store, syncengine.Config{Logger: r.quiet})
	if err == nil {
		err = eng.AddMailbox(ctx, syncengine.Mailbox{Address: benchAddress, Client: client})
	}
	if err == nil {
		err = eng.SyncOnce(ctx)
		eng.Close(context.WithoutCancel(ctx))
	}
	// The subscription that will be lost, and its watermark.
	var sub *ews.Subscription
	if err == nil {
		sub, err = client.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, AllFolders: true, Timeout: 30 * time.Minute})
	}
	// Both paths start from this mirror.
	pathB := filepath.Join(r.dir, "recovery-b.db")
	if err == nil {
		err = backupTo(ctx, store, pathB)
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	ct.closeIdle()
	if err != nil {
		return fmt.Errorf("first mirror: %w", err)
	}
	folders := 0
	for _, f := range box.Folders() {
		if syncengine.IsMailFolder(f.FolderClass) {
			folders++
		}
	}

	// The outage: the server restarts, then the mailbox changes.
	r.logf("recovery: outage with about %d events", c.recoveryEvents)
	srv.Restart()
	if err := sleepCtx(ctx, time.Until(time.Now().Truncate(time.Second).Add(1100*time.Millisecond))); err != nil { // leave the pairs' commit second
		return err
	}
	touched, flips := outageTargets(box, 5)
	if len(flips) == 0 {
		return errors.New("no folder with items to change")
	}
	// Each delivery raises three events, each read flip two (the item and
	// its folder's unread count).
	deliveries := min(100, max(5, c.recoveryEvents/500))
	nflips := max(1, (c.recoveryEvents-3*deliveries)/2)
	for i := range deliveries {
		if i == deliveries/5 {
			for n := range nflips {
				if _, err := box.SetRead(flips[n%len(flips)], n/len(flips)%2 == 0); err != nil {
					return err
				}
			}
		}
		if _, err := box.Deliver(touched[i%len(touched)], benchMessage(i)); err != nil {
			return err
		}
	}

	// Path A: the engine's recovery.
	r.logf("recovery: path A, the engine's recovery")
	a, resynced, err := r.recoveryA(ctx, srv.URL, pathA)
	if err != nil {
		return fmt.Errorf("path A: %w", err)
	}
	// Path B: resubscribe from the old watermark and replay.
	r.logf("recovery: path B, replay from the old watermark")
	storeB, err := localstore.Open(pathB, &localstore.Options{NoSync: true, Logger: r.quiet})
	if err != nil {
		return err
	}
	defer storeB.Close()
	ctB := newCountingTransport()
	defer ctB.closeIdle()
	clientB, err := r.newClient(srv.URL, ctB, ews.Options{})
	if err != nil {
		return err
	}
	startB := time.Now()
	events, fetched, err := replayWatermark(ctx, clientB, storeB, sub.Watermark)
	if err != nil {
		return fmt.Errorf("path B: %w", err)
	}
	b := recoveryPath{Requests: ctB.requests.Load(), Bytes: ctB.received.Load() + ctB.sent.Load(), Ms: msSince(startB), ItemsFetched: fetched}
	a.Resynced = resynced

	storeA, err := localstore.Open(pathA, &localstore.Options{ReadOnly: true, Logger: r.quiet})
	if err != nil {
		return err
	}
	defer storeA.Close()
	if d := sameItems(ctx, storeA, storeB, box); d != "" {
		return fmt.Errorf("the two paths ended with different mirrors: %s", d)
	}
	rr := &recoveryResult{
		Folders: folders, Messages: messages, Events: events, Touched: len(touched),
		A: a, B: b,
		RequestRatio: float64(b.Requests) / float64(max(a.Requests, 1)),
		BytesRatio:   float64(b.Bytes) / float64(max(a.Bytes, 1)),
		TimeRatio:    b.Ms / a.Ms,
		SameMirror:   true,
	}
	res.Recovery = rr
	r.logf("recovery: A %d requests in %.0f ms, B %d requests in %.0f ms", a.Requests, a.Ms, b.Requests, b.Ms)
	return nil
}

// recoveryA starts an engine on the mirror at path and waits for its
// recovery.
func (r *benchRun) recoveryA(ctx context.Context, url, path string) (recoveryPath, int, error) {
	store, err := localstore.Open(path, &localstore.Options{NoSync: true, Logger: r.quiet})
	if err != nil {
		return recoveryPath{}, 0, err
	}
	defer store.Close()
	ct := newCountingTransport()
	defer ct.closeIdle()
	client, err := r.newClient(url, ct, ews.Options{})
	if err != nil {
		return recoveryPath{}, 0, err
	}
	done := make(chan syncengine.Event, 1)
	eng, err := syncengine.New(store, syncengine.Config{Logger: r.quiet, OnEvent: func(ev syncengine.Event) {
		if ev.Kind == syncengine.EventRecovery || ev.Kind == syncengine.EventError {
			select {
			case done <- ev:
			default:
			}
		}
	}})
	if err != nil {
		return recoveryPath{}, 0, err
	}
	if err := eng.AddMailbox(ctx, syncengine.Mailbox{Address: benchAddress, Client: client}); err != nil {
		return recoveryPath{}, 0, err
	}
	start := time.Now()
	if err := eng.Start(ctx); err != nil {
		return recoveryPath{}, 0, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	var ev syncengine.Event
	select {
	case ev = <-done:
	case <-ctx.Done():
		return recoveryPath{}, 0, ctx.Err()
	}
	p := recoveryPath{Requests: ct.requests.Load(), Bytes: ct.received.Load() + ct.sent.Load(), Ms: msSince(start)}
	if ev.Kind == syncengine.EventError {
		return p, 0, ev.Err
	}
	rc, err := waitRecheck(ctx, eng, ev.Recovery.Recheck)
	if err != nil {
		return p, 0, err
	}
	rc.Requests = ct.requests.Load() - p.Requests
	rc.Bytes = ct.received.Load() + ct.sent.Load() - p.Bytes
	p.Recheck = rc
	return p, ev.Recovery.Resynced, eng.Close(context.WithoutCancel(ctx))
}

// waitRecheck waits until the engine's recheck has synced folders folders
// (its Metrics, read every 10 ms: the bench has no other signal for it).
func waitRecheck(ctx context.Context, eng *syncengine.Engine, folders int) (*recheckCost, error) {
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for eng.Metrics().Rechecked < int64(folders) {
		select {
		case <-tick.C:
		case <-deadline:
			return nil, fmt.Errorf("the recheck of %d folders did not end in 2 minutes (%d done)", folders, eng.Metrics().Rechecked)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &recheckCost{Folders: folders, Ms: msSince(start)}, nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// leaveCommitSecond waits until the wall clock has left the second in which
// the mailbox's folders were last changed (PR_LOCAL_COMMIT_TIME_MAX has
// one-second granularity).
func leaveCommitSecond(ctx context.Context, box *ewstest.Mailbox) error {
	var latest time.Time
	for _, f := range box.Folders() {
		if f.LocalCommitTimeMax.After(latest) {
			latest = f.LocalCommitTimeMax
		}
	}
	return sleepCtx(ctx, time.Until(latest.Add(time.Second+10*time.Millisecond)))
}

// outageTargets picks the n user mail folders with the most items and up to
// 40 items of each to flip.
func outageTargets(box *ewstest.Mailbox, n int) (folders, items []string) {
	var fs []ewstest.FolderInfo
	for _, f := range box.Folders() {
		if f.DistinguishedID == "" && syncengine.IsMailFolder(f.FolderClass) && f.TotalCount > 0 {
			fs = append(fs, f)
		}
	}
	slices.SortFunc(fs, func(a, b ewstest.FolderInfo) int {
		if a.TotalCount != b.TotalCount {
			return b.TotalCount - a.TotalCount
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	for _, f := range fs[:min(n, len(fs))] {
		folders = append(folders, f.ID)
		its, _ := box.Items(f.ID)
		for _, it := range its[:min(40, len(its))] {
			items = append(items, it.ID)
		}
	}
	return folders, items
}

var benchMessageSeq int

// benchMessage is a new message with a unique subject.
func benchMessage(i int) ewstest.Message {
	benchMessageSeq++
	now := time.Now().UTC()
	return ewstest.Message{
		Subject:          fmt.Sprintf("bench message %d-%d", benchMessageSeq, i),
		From:             ewstest.Address{Name: "Bob", Email: "bob@example.com"},
		To:               []ewstest.Address{{Name: "Bench", Email: benchAddress}},
		DateTimeReceived: now,
		DateTimeSent:     now,
		Body:             "hello",
	}
}

func backupTo(ctx context.Context, s *localstore.Store, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := s.Backup(ctx, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replayMetadataBatch is the GetItem batch size of the replay, the
// engine's metadata batch.
const replayMetadataBatch = 100

// replayWatermark is path B: Subscribe from the old watermark, GetEvents
// to the end, then GetItem for every item the events name, applied to the
// mirror. It returns the events replayed and the items fetched.
func replayWatermark(ctx context.Context, c *ews.Client, store *localstore.Store, watermark string) (int, int, error) {
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, AllFolders: true, Timeout: 30 * time.Minute, Watermark: watermark})
	if err != nil {
		return 0, 0, err
	}
	defer c.Unsubscribe(context.WithoutCancel(ctx), sub.ID, nil)
	wanted := map[string]bool{}
	var order []string
	events := 0
	for n, err := range c.AllEvents(ctx, sub.ID, sub.Watermark, nil) {
		if err != nil {
			return events, 0, err
		}
		for _, e := range n.Events {
			if e.Type == ews.EventStatus {
				continue
			}
			events++
			if !e.IsFolder() && e.Type != ews.EventDeleted && !wanted[e.ItemID.ID] {
				wanted[e.ItemID.ID] = true
				order = append(order, e.ItemID.ID)
			}
		}
	}
	for start := 0; start < len(order); start += replayMetadataBatch {
		chunk := order[start:min(start+replayMetadataBatch, len(order))]
		ids := make([]ews.ItemID, len(chunk))
		for i, id := range chunk {
			ids[i] = ews.ItemID{ID: id}
		}
		res, err := c.GetItem(ctx, ews.GetItemRequest{Items: ids, Shape: ews.MessageMetadataShape(false)})
		if err != nil {
			return events, 0, err
		}
		batch := localstore.Batch{Mailbox: benchAddress}
		for i := range res {
			if res[i].Err == nil {
				batch.Items = append(batch.Items, syncengine.StoreItem(&res[i].Item, ""))
			}
		}
		if err := store.Apply(ctx, batch); err != nil {
			return events, 0, err
		}
	}
	return events, len(order), nil
}

// sameItems compares both mirrors with the server on every mail folder and
// describes the first difference, or returns "".
func sameItems(ctx context.Context, a, b *localstore.Store, box *ewstest.Mailbox) string {
	for _, sf := range box.Folders() {
		if !syncengine.IsMailFolder(sf.FolderClass) {
			continue
		}
		items, _ := box.Items(sf.ID)
		for _, it := range items {
			ia, errA := a.Item(ctx, benchAddress, localstore.ItemID(it.ID))
			ib, errB := b.Item(ctx, benchAddress, localstore.ItemID(it.ID))
			if errA != nil || errB != nil || ia.IsRead != it.Message.IsRead || ib.IsRead != it.Message.IsRead {
				return fmt.Sprintf("folder %q item %q: A %v/%v, B %v/%v, server read %v", sf.DisplayName, it.Message.Subject, errA, ia.IsRead, errB, ib.IsRead, it.Message.IsRead)
			}
		}
	}
	return ""
}
