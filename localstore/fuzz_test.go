package localstore

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FuzzOpen opens damaged copies of small real stores, read-only and then
// read-write: Open must not crash and fails only with ErrCorrupt,
// ErrNotStore, ErrSchemaTooNew or ErrNeedsMigration; a file that opens
// must then Check, read and take a batch with nil or ErrCorrupt.
//
// The input is a damage recipe rather than the file itself, so that it is
// short and every mutation of it is a plausible damage (a whole file of
// input takes the fuzzer minutes to minimize each time):
//
//	in[0] bit 0: after patching, recompute both meta pages' checksums
//	             (so that damaged meta fields get past the checksum)
//	      bit 1: the seed with 4 KiB pages instead of 1 KiB
//	      bit 2: in[1:] is the whole file; no seed, no patches
//	in[1:3]     if not 0, cut the file to that many times 8 bytes
//	in[3:]      patches of 3 bytes: offset (little endian, modulo the
//	            file's length) and the byte to store there
func FuzzOpen(f *testing.F) {
	var seeds [2][]byte
	for i, ps := range []int{1024, 4096} {
		var err error
		if seeds[i], err = smallStoreFile(filepath.Join(f.TempDir(), "seed.db"), ps); err != nil {
			f.Fatal(err)
		}
	}
	f.Add([]byte{0, 0, 0})                         // the seed as it is
	f.Add([]byte{2, 0, 0})                         // the other seed
	f.Add([]byte{0, 0, 0, 0x10, 0x08, 0xff})       // a byte of page 2
	f.Add([]byte{1, 0, 0, 0x10 + 40, 0x04, 0x02})  // meta 1's high water mark, checksum fixed
	f.Add([]byte{0, 0x80, 0x02, 0x00, 0x0c, 0x00}) // cut to 5 KiB, a byte of page 3
	f.Add([]byte{4})                               // an empty file
	f.Add(append([]byte{4}, "not a store"...))     // a text file
	f.Fuzz(func(t *testing.T, in []byte) {
		data := damageRecipe(seeds, in)
		path := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{true, false} {
			if ro && len(data) == 0 {
				continue // nothing to open read-only
			}
			fuzzOpenOnce(t, path, ro)
		}
	})
}

// damageRecipe applies the recipe in (see FuzzOpen) to a copy of a seed.
func damageRecipe(seeds [2][]byte, in []byte) []byte {
	if len(in) == 0 {
		return bytes.Clone(seeds[0])
	}
	flags := in[0]
	if flags&4 != 0 {
		return bytes.Clone(in[1:])
	}
	data := bytes.Clone(seeds[flags>>1&1])
	if len(in) >= 3 {
		if n := int(in[1]) | int(in[2])<<8; n != 0 && n*8 < len(data) {
			data = data[:n*8]
		}
	}
	if len(data) == 0 {
		return data
	}
	for p := in[min(3, len(in)):]; len(p) >= 3; p = p[3:] {
		data[(int(p[0])|int(p[1])<<8)%len(data)] = p[2]
	}
	if flags&1 != 0 {
		ps := int(parseMeta(seeds[flags>>1&1]).pageSize)
		for _, off := range []int{0, ps} {
			if off+pageHeaderSize+metaSize <= len(data) {
				m := data[off+pageHeaderSize : off+pageHeaderSize+metaSize]
				h := fnv.New64a()
				h.Write(m[:56])
				ne.PutUint64(m[56:], h.Sum64())
			}
		}
	}
	return data
}

func fuzzOpenOnce(t *testing.T, path string, readOnly bool) {
	ctx := context.Background()
	s, err := Open(path, &Options{ReadOnly: readOnly, NoSync: true, LockTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotStore) && !errors.Is(err, ErrSchemaTooNew) && !errors.Is(err, ErrNeedsMigration) {
			t.Fatalf("Open(readOnly=%v) = %v: not a typed error", readOnly, err)
		}
		return
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	if err := s.Check(ctx); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check = %v", err)
	}
	if err := readAll(s); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reads = %v", err)
	}
	if readOnly {
		return
	}
	if err := s.Apply(ctx, inboxBatch("fuzz@example.com", testItem("inbox", 1))); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Apply = %v", err)
	}
}

// smallStoreFile returns a compact store of pageSize-byte pages holding
// one mailbox with a few folders, items and MIME.
func smallStoreFile(path string, pageSize int) ([]byte, error) {
	defer os.Remove(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: pageSize, NoFreelistSync: true})
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	s, err := Open(path, &Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	b := Batch{Mailbox: "a@example.com", Folders: []FolderInfo{
		{ID: "inbox", ParentID: "root", DisplayName: "Inbox"},
		{ID: "sub", ParentID: "inbox", DisplayName: "Sub"},
	}}
	for n := range 12 {
		f := FolderID("inbox")
		if n%4 == 0 {
			f = "sub"
		}
		b.Items = append(b.Items, testItem(f, n))
	}
	b.MIME = []MIME{{ID: testItem("", 1).ID, Data: []byte("Subject: hi\r\n\r\nbody\r\n")}}
	ctx := context.Background()
	if err := s.Apply(ctx, b); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := s.Backup(ctx, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
