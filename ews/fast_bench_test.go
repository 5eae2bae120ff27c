package ews

import (
	"testing"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// BenchmarkDecodeSyncFolderItems512Fast is BenchmarkDecodeSyncFolderItems512
// through decodeResponse, which takes the fast path for this page.
func BenchmarkDecodeSyncFolderItems512Fast(b *testing.B) {
	page := syncPage512()
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		sr, err := decodeResponse("SyncFolderItems", page, DefaultMaxResponseTags)
		if err != nil || sr.fast == nil {
			b.Fatal(err, "or no fast path")
		}
		r, err := decodeSyncFolderItems(sr)
		if err != nil || len(r.Changes) != MaxSyncChanges {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(MaxSyncChanges*b.N)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		sr, _ := decodeResponse("SyncFolderItems", page, DefaultMaxResponseTags)
		_, _ = decodeSyncFolderItems(sr)
	}))/MaxSyncChanges, "allocs/item")
}

// BenchmarkDecodeGetItemMIMEFast is BenchmarkDecodeGetItemMIME through
// the fast path.
func BenchmarkDecodeGetItemMIMEFast(b *testing.B) {
	page := getItemMIMEBatch(10, 100<<10)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		sr, err := decodeResponse("GetItem", page, DefaultMaxResponseTags)
		if err != nil || sr.fast == nil {
			b.Fatal(err, "or no fast path")
		}
		rs, err := decodeGetItem(sr, 10)
		if err != nil || rs[9].Err != nil || len(rs[9].Item.MimeContent) != 100<<10 {
			b.Fatal(err, rs[9].Err)
		}
	}
}

// BenchmarkCheckLimitsSyncFolderItems512 is the cost of the limit scan
// the tree path now runs before parsing.
func BenchmarkCheckLimitsSyncFolderItems512(b *testing.B) {
	page := syncPage512()
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if err := checkResponseLimits(page); err != nil {
			b.Fatal(err)
		}
	}
}

func checkResponseLimits(b []byte) error {
	return ewsxml.CheckLimits(b, ewsxml.Limits{MaxTags: DefaultMaxResponseTags})
}
