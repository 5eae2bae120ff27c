package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

// queryResult is the newest-50 read of one big folder from the store.
type queryResult struct {
	// Items in the folder; Reads timed.
	Items int `json:"items"`
	Reads int `json:"reads"`
	// Newest50Us is the median time to list the folder's newest 50 items
	// (Store.Items with Limit 50, every item decoded); Newest50P99Us the
	// 99th percentile.
	Newest50Us    float64 `json:"newest50Us"`
	Newest50P99Us float64 `json:"newest50P99Us"`
}

// query builds a store with one folder of cfg.queryItems items (records
// shaped like Exchange's: 150-byte ids, subjects, senders, recipients),
// written in pages as a sync writes them, and times newest-50 reads.
func (r *benchRun) query(ctx context.Context, res *benchResult) error {
	n := r.cfg.queryItems
	r.logf("query: writing a folder of %d items", n)
	store, err := localstore.Open(filepath.Join(r.dir, "query.db"), &localstore.Options{NoSync: true, Logger: r.quiet})
	if err != nil {
		return err
	}
	defer store.Close()
	const folder = localstore.FolderID("AAMkAGQuery-folder")
	if err := store.Apply(ctx, localstore.Batch{Mailbox: benchAddress, Folders: []localstore.FolderInfo{{ID: folder, DisplayName: "Big", FolderClass: "IPF.Note"}}}); err != nil {
		return err
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	end := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	const page = 512
	for start := 0; start < n; start += page {
		b := localstore.Batch{Mailbox: benchAddress}
		for i := start; i < min(start+page, n); i++ {
			b.Items = append(b.Items, syntheticItem(rnd, folder, i, end))
		}
		if err := store.Apply(ctx, b); err != nil {
			return err
		}
	}
	read := func() (time.Duration, error) {
		t := time.Now()
		got := 0
		for _, err := range store.Items(ctx, benchAddress, folder, localstore.Query{Limit: 50}) {
			if err != nil {
				return 0, err
			}
			got++
		}
		el := time.Since(t)
		if got != 50 {
			return 0, fmt.Errorf("newest 50 returned %d items", got)
		}
		return el, nil
	}
	for range min(100, r.cfg.queryReads) { // warm up
		if _, err := read(); err != nil {
			return err
		}
	}
	ds := make([]time.Duration, r.cfg.queryReads)
	for i := range ds {
		if ds[i], err = read(); err != nil {
			return err
		}
	}
	slices.Sort(ds)
	q := &queryResult{Items: n, Reads: len(ds),
		Newest50Us:    float64(ds[len(ds)/2].Nanoseconds()) / 1000,
		Newest50P99Us: float64(ds[min(len(ds)-1, len(ds)*99/100)].Nanoseconds()) / 1000,
	}
	res.Query = q
	r.logf("query: newest 50 of %d in %.0f µs (median)", n, q.Newest50Us)
	return nil
}

// syntheticItem is item i of the query folder, received at a random time in
// the year before end.
func syntheticItem(rnd *rand.Rand, folder localstore.FolderID, i int, end time.Time) localstore.Item {
	id := make([]byte, 112) // 152 base64 characters, as Exchange's
	for j := range id {
		id[j] = byte(rnd.Uint32())
	}
	id[0], id[1], id[2], id[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	received := end.Add(-time.Duration(rnd.Int64N(int64(365 * 24 * time.Hour))))
	return localstore.Item{
		ID:                localstore.ItemID(base64.StdEncoding.EncodeToString(id)),
		ChangeKey:         "CQAAABYAAAA" + base64.StdEncoding.EncodeToString(id[:24]),
		FolderID:          folder,
		ItemClass:         "IPM.Note",
		Subject:           fmt.Sprintf("Re: quarterly planning, item %d of the big folder", i),
		From:              localstore.Address{Name: "Robert Example", Email: "robert@example.com"},
		To:                []localstore.Address{{Name: "Bench", Email: benchAddress}, {Name: "Team", Email: "team@example.com"}},
		Received:          received,
		Sent:              received.Add(-2 * time.Second),
		Size:              int64(2000 + rnd.IntN(50_000)),
		IsRead:            rnd.IntN(4) != 0,
		InternetMessageID: fmt.Sprintf("<%d.bench@example.com>", i),
		ConversationID:    "AAQkAGConv" + base64.StdEncoding.EncodeToString(id[:16]),
	}
}
