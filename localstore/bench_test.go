package localstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// Exchange ids are long: an ItemId is about 150 base64 characters, a
// FolderId about 120. The benchmarks use ids of those lengths.
const (
	exItemPrefix   = "AAMkADc3MWUyMGQ0LTQ2NTctNGI0OS04NmQ4LTFlZWE3ZDQ0YzcwNABGAAAAAAC6jrbFcQ1hRpRoA0SvrS5YBwC3ywTDfLBNQ74sbVHMx0VwAAAAAAEMAAC3ywTDfLBNQ74sbVHMx0VwAAB"
	benchFolderID  = FolderID("AAMkADc3MWUyMGQ0LTQ2NTctNGI0OS04NmQ4LTFlZWE3ZDQ0YzcwNAAuAAAAAAC6jrbFcQ1hRpRoA0SvrS5YAQC3ywTDfLBNQ74sbVHMx0VwAAAAAAEMAAA=")
	benchItemIDLen = len(exItemPrefix) + 8
)

// benchItems returns n items numbered from first, spread over time, with
// Exchange-length ids.
func benchItems(folder FolderID, first, n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = testItem(folder, first+i)
		items[i].ID = ItemID(fmt.Sprintf("%s%08d", exItemPrefix, first+i))
	}
	return items
}

func openBench(b *testing.B, o *Options) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkApply measures Apply of batches of n new items, with fsync (the
// default) and without. One op is one batch, one commit.
func BenchmarkApply(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, n := range []int{1, 100, 10_000} {
			b.Run(fmt.Sprintf("fsync=%v/items=%d", sync, n), func(b *testing.B) {
				s := openBench(b, &Options{NoSync: !sync})
				mb := Mailbox("bench@example.com")
				mustApply(b, s, Batch{Mailbox: mb, Folders: []FolderInfo{{ID: benchFolderID}}})
				next := 0
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					batch := Batch{Mailbox: mb, Items: benchItems(benchFolderID, next, n)}
					next += n
					b.StartTimer()
					if err := s.Apply(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N*n)/sec, "items/s")
				b.ReportMetric(float64(b.N)/sec, "commits/s")
			})
		}
	}
}

// bigFolder is a store with 100,000 items in one folder, built once per test
// binary run and shared by the query benchmarks.
var bigFolder struct {
	once sync.Once
	dir  string
	s    *Store
	size int64
	err  error
}

const bigFolderItems = 100_000

func openBigFolder(b *testing.B) *Store {
	bigFolder.once.Do(func() {
		bigFolder.dir, bigFolder.err = os.MkdirTemp("", "localstore-bench-")
		if bigFolder.err != nil {
			return
		}
		path := filepath.Join(bigFolder.dir, "big.db")
		s, err := Open(path, &Options{NoSync: true})
		if err != nil {
			bigFolder.err = err
			return
		}
		mb := Mailbox("big@example.com")
		ctx := context.Background()
		if err := s.Apply(ctx, Batch{Mailbox: mb, Folders: []FolderInfo{{ID: benchFolderID}}}); err != nil {
			bigFolder.err = err
			return
		}
		for i := 0; i < bigFolderItems; i += 10_000 {
			if err := s.Apply(ctx, Batch{Mailbox: mb, Items: benchItems(benchFolderID, i, 10_000)}); err != nil {
				bigFolder.err = err
				return
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			bigFolder.err = err
			return
		}
		bigFolder.s, bigFolder.size = s, fi.Size()
	})
	if bigFolder.err != nil {
		b.Fatal(bigFolder.err)
	}
	return bigFolder.s
}

func closeBigFolder() {
	if bigFolder.s != nil {
		bigFolder.s.Close()
	}
	if bigFolder.dir != "" {
		os.RemoveAll(bigFolder.dir)
	}
}

// BenchmarkNewest50 reads the newest 50 items (and variants) of a
// 100,000-item folder.
func BenchmarkNewest50(b *testing.B) {
	s := openBigFolder(b)
	mb := Mailbox("big@example.com")
	ctx := context.Background()
	mid := benchItems(benchFolderID, bigFolderItems/2, 1)[0].Cursor()
	for _, tc := range []struct {
		name string
		q    Query
	}{
		{"newest", Query{Limit: 50}},
		{"unread", Query{Limit: 50, UnreadOnly: true}},
		{"cursor-middle", Query{Limit: 50, After: mid}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				for _, err := range s.Items(ctx, mb, benchFolderID, tc.q) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != 50 {
					b.Fatalf("%d items", n)
				}
			}
		})
	}
	b.Run("item-by-id", func(b *testing.B) {
		id := benchItems("", 12345, 1)[0].ID
		for b.Loop() {
			if _, err := s.Item(ctx, mb, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGroupCommit has 100 mailboxes apply 10-item batches at once, with
// fsync, through group commit and with one commit per batch. One op is one
// batch.
func BenchmarkGroupCommit(b *testing.B) {
	const mailboxes = 100
	for _, tc := range []struct {
		name     string
		maxGroup int
	}{{"grouped", 0}, {"one-per-commit", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			s := openBench(b, &Options{MaxGroupBatches: tc.maxGroup})
			ctx := context.Background()
			for m := range mailboxes {
				mustApply(b, s, Batch{Mailbox: Mailbox(fmt.Sprintf("m%03d@example.com", m)), Folders: []FolderInfo{{ID: benchFolderID}}})
			}
			before := s.WriterStats()
			var next atomic.Int64
			total := int64(b.N)
			b.ResetTimer()
			var wg sync.WaitGroup
			for m := range mailboxes {
				mb := Mailbox(fmt.Sprintf("m%03d@example.com", m))
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= total {
							return
						}
						if err := s.Apply(ctx, Batch{Mailbox: mb, Items: benchItems(benchFolderID, int(i)*10, 10)}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := s.WriterStats()
			commits := st.Commits - before.Commits
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
			b.ReportMetric(float64(st.Batches-before.Batches)/float64(max(commits, 1)), "batches/commit")
		})
	}
}

// BenchmarkFileSize reports the file size for 100,000 items in one folder,
// written in batches of 10,000 (run with -benchtime 1x), with Exchange-length
// ids and with short ones.
func BenchmarkFileSize(b *testing.B) {
	for _, tc := range []struct {
		name   string
		folder FolderID
		id     func(int) ItemID
	}{
		{"exchange-ids", benchFolderID, func(i int) ItemID { return ItemID(fmt.Sprintf("%s%08d", exItemPrefix, i)) }},
		{"short-ids", "inbox", func(i int) ItemID { return ItemID(fmt.Sprintf("i%08d", i)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var size int64
			for b.Loop() {
				s := openBench(b, &Options{NoSync: true})
				mb := Mailbox("size@example.com")
				mustApply(b, s, Batch{Mailbox: mb, Folders: []FolderInfo{{ID: tc.folder}}})
				for i := 0; i < bigFolderItems; i += 10_000 {
					items := benchItems(tc.folder, i, 10_000)
					for j := range items {
						items[j].ID = tc.id(i + j)
					}
					mustApply(b, s, Batch{Mailbox: mb, Items: items})
				}
				fi, err := os.Stat(s.Path())
				if err != nil {
					b.Fatal(err)
				}
				size = fi.Size()
			}
			b.ReportMetric(float64(size)/bigFolderItems, "file-bytes/item")
			b.ReportMetric(float64(size)/(1<<20), "MiB/100k-items")
		})
	}
}

// BenchmarkCodec compares the item record codec with encoding/json.
func BenchmarkCodec(b *testing.B) {
	it := testItem("AAMkADc3MWUyMGQ0LTQ2NTctNGI0OS04NmQ4LTFlZWE3ZDQ0YzcwNAAuAAAAAAB", 7)
	it.Cc = []Address{{Name: "Carol", Email: "carol@example.com"}}
	it.Categories = []string{"Red category"}
	b.Run("binary", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = appendItem(buf[:0], &it, 1)
			if _, _, ok := decodeItem(it.ID, buf); !ok {
				b.Fatal("decode")
			}
		}
		b.ReportMetric(float64(len(buf)), "record-bytes")
	})
	b.Run("json", func(b *testing.B) {
		var n int
		for b.Loop() {
			buf, err := json.Marshal(&it)
			if err != nil {
				b.Fatal(err)
			}
			var out Item
			if err := json.Unmarshal(buf, &out); err != nil {
				b.Fatal(err)
			}
			n = len(buf)
		}
		b.ReportMetric(float64(n), "record-bytes")
	})
}

// BenchmarkSearch searches the 100,000-item folder's mailbox for a subject
// word that matches 1 item in 10,000.
func BenchmarkSearch(b *testing.B) {
	s := openBigFolder(b)
	mb := Mailbox("big@example.com")
	ctx := context.Background()
	for b.Loop() {
		n := 0
		for _, err := range s.Search(ctx, mb, SearchQuery{Text: "REPORT 4242", Limit: 50}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 11 { // 4242 and 42420..42429
			b.Fatalf("%d results", n)
		}
	}
}

// BenchmarkMirror applies an initial mirror's pages as the engine does:
// 20,000 new items in 40 folders, 512-item pages each with its folder's
// checkpoint, ids whose ends are scattered (as Exchange's and the fake's
// are), and pagesPerCommit pages per transaction. One op is the whole
// mirror into a fresh store.
func BenchmarkMirror(b *testing.B) {
	const folders, items, page = 40, 20_000, 512
	for _, sync := range []bool{false, true} {
		for _, per := range []int{1, 8, 40} {
			b.Run(fmt.Sprintf("fsync=%v/pagesPerCommit=%d", sync, per), func(b *testing.B) {
				mb := Mailbox("bench@example.com")
				var pages []Batch
				for f := range folders {
					fid := FolderID(fmt.Sprintf("%s%04d", benchFolderID, f))
					n := items / folders
					for first := 0; first < n; first += page {
						its := benchItems(fid, f*n+first, min(page, n-first))
						for i := range its {
							h := uint32(f*n+first+i) * 2654435761
							its[i].ID = ItemID(fmt.Sprintf("%s%08x", exItemPrefix, h))
						}
						pages = append(pages, Batch{Mailbox: mb, Items: its, Checkpoints: []Checkpoint{{ID: fid, FolderSync: FolderSync{SyncState: fmt.Sprintf("state-%d-%d", f, first)}}}})
					}
				}
				var tree Batch
				tree.Mailbox = mb
				for f := range folders {
					tree.Folders = append(tree.Folders, FolderInfo{ID: FolderID(fmt.Sprintf("%s%04d", benchFolderID, f))})
				}
				order := pages
				for b.Loop() {
					b.StopTimer()
					s, err := Open(filepath.Join(b.TempDir(), "mirror.db"), &Options{NoSync: !sync})
					if err != nil {
						b.Fatal(err)
					}
					mustApply(b, s, tree)
					b.StartTimer()
					for i := 0; i < len(order); i += per {
						var g Batch
						g.Mailbox = mb
						for _, p := range order[i:min(i+per, len(order))] {
							g.Items = append(g.Items, p.Items...)
							g.Checkpoints = append(g.Checkpoints, p.Checkpoints...)
						}
						if err := s.Apply(context.Background(), g); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					s.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(b.N*items)/b.Elapsed().Seconds(), "items/s")
			})
		}
	}
}
