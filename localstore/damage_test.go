package localstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The damage tests open damaged copies of a real store in a child process
// (the test binary again, see TestMain), because what they guard against is
// a crash that no recover in the test could catch.
const damageChildEnv = "LOCALSTORE_DAMAGE_CHILD"

// damageChild opens path, and if that works checks and reads it, printing
// one line "open=<class> check=<class> reads=<class>".
func damageChild(path string) int {
	s, err := Open(path, &Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Printf("open=%s\n", errClass(err))
		return 0
	}
	defer s.Close()
	check := errClass(s.Check(context.Background()))
	fmt.Printf("open=ok check=%s reads=%s\n", check, errClass(readAll(s)))
	return 0
}

// readAll reads every mailbox, folder and item of s and returns the first
// error other than ErrNotFound.
func readAll(s *Store) error {
	ctx := context.Background()
	mbs, err := s.Mailboxes(ctx)
	if err != nil {
		return err
	}
	for _, st := range mbs {
		if _, err := s.Stats(ctx, st.Mailbox); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		for f, err := range s.Folders(ctx, st.Mailbox) {
			if err != nil {
				return err
			}
			for it, err := range s.Items(ctx, st.Mailbox, f.ID, Query{}) {
				if err != nil {
					return err
				}
				if _, err := s.MIMEBytes(ctx, st.Mailbox, it.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
		}
	}
	return nil
}

// errClass names the kind of err: ok, corrupt, notstore, or other:<text>.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	case errors.Is(err, ErrNotStore):
		return "notstore"
	}
	return "other:" + strings.ReplaceAll(err.Error(), " ", "_")
}

var (
	damageOnce sync.Once
	damageFile []byte
	damageErr  error
)

// damageSource returns the bytes of a real store: three mailboxes with
// folders, items and MIME (some of it larger than a page), written through
// Open and Apply and compacted by Backup.
func damageSource(t testing.TB) []byte {
	t.Helper()
	damageOnce.Do(func() {
		damageFile, damageErr = buildStoreFile(filepath.Join(os.TempDir(), fmt.Sprintf("damage-src-%d.db", os.Getpid())), 3, 400)
	})
	if damageErr != nil {
		t.Fatal(damageErr)
	}
	return damageFile
}

// buildStoreFile writes a store of mailboxes × items at path and returns
// its Backup; path is removed.
func buildStoreFile(path string, mailboxes, items int) ([]byte, error) {
	defer os.Remove(path)
	s, err := Open(path, &Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ctx := context.Background()
	for k := range mailboxes {
		mb := Mailbox(fmt.Sprintf("user%d@example.com", k))
		b := Batch{Mailbox: mb, Seq: 1, Folders: []FolderInfo{
			{ID: "inbox", ParentID: "root", DisplayName: "Inbox"},
			{ID: "archive", ParentID: "root", DisplayName: "Archive"},
		}}
		for n := range items {
			f := FolderID("inbox")
			if n%3 == 0 {
				f = "archive"
			}
			b.Items = append(b.Items, testItem(f, n))
			if n%10 == 0 {
				b.MIME = append(b.MIME, MIME{ID: testItem(f, n).ID, Data: bytes.Repeat([]byte{byte(n)}, 100+n*40)})
			}
		}
		if err := s.Apply(ctx, b); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if _, err := s.Backup(ctx, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// damage is one way of breaking a store file.
type damage struct {
	name string
	fn   func(src []byte) []byte
	want string // the expected outcome, or "" for any typed one
}

func damages(src []byte) []damage {
	ps := uint64(parseMeta(src).pageSize)
	pages := uint64(len(src)) / ps
	root := parseMeta(src).root
	page := func(b []byte, id uint64) []byte { return b[id*ps : (id+1)*ps] }
	var ds []damage
	for seed := range uint64(12) {
		ds = append(ds, damage{name: fmt.Sprintf("flip16/%d", seed), fn: func(src []byte) []byte {
			r := rand.New(rand.NewPCG(seed, 1))
			b := bytes.Clone(src)
			for range 16 {
				b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
			}
			return b
		}})
	}
	for _, id := range []uint64{0, 1, root, 2, pages / 3, pages / 2, pages - 1} {
		ds = append(ds, damage{name: fmt.Sprintf("zero-page/%d", id), fn: func(src []byte) []byte {
			b := bytes.Clone(src)
			clear(page(b, id))
			return b
		}})
	}
	ds = append(ds, damage{name: "zero-both-metas", want: "open=notstore", fn: func(src []byte) []byte {
		b := bytes.Clone(src)
		clear(b[:2*ps])
		return b
	}})
	for seed := range uint64(6) {
		ds = append(ds, damage{name: fmt.Sprintf("random-30pct/%d", seed), fn: func(src []byte) []byte {
			r := rand.New(rand.NewPCG(seed, 2))
			b := bytes.Clone(src)
			for id := uint64(2); id < pages; id++ {
				if r.IntN(10) < 3 {
					for i := range page(b, id) {
						page(b, id)[i] = byte(r.Uint32())
					}
				}
			}
			return b
		}})
	}
	for seed := range uint64(4) {
		ds = append(ds, damage{name: fmt.Sprintf("swap-pages/%d", seed), fn: func(src []byte) []byte {
			r := rand.New(rand.NewPCG(seed, 3))
			b := bytes.Clone(src)
			x, y := 2+r.Uint64N(pages-2), 2+r.Uint64N(pages-2)
			tmp := bytes.Clone(page(b, x))
			copy(page(b, x), page(b, y))
			copy(page(b, y), tmp)
			return b
		}})
	}
	// A bucket whose root is the page holding it: a cycle, which bbolt
	// would follow for ever.
	ds = append(ds, damage{name: "bucket-cycle", want: "open=corrupt", fn: func(src []byte) []byte {
		b := bytes.Clone(src)
		p := page(b, root)
		for i := range uint64(ne.Uint16(p[10:])) {
			e := p[pageHeaderSize+i*elemSize:]
			if ne.Uint32(e)&bucketLeafFlag != 0 {
				v := pageHeaderSize + i*elemSize + uint64(ne.Uint32(e[4:])) + uint64(ne.Uint32(e[8:]))
				ne.PutUint64(p[v:], root)
			}
		}
		return b
	}})
	cut := func(n int) func([]byte) []byte { return func(src []byte) []byte { return bytes.Clone(src[:n]) } }
	ds = append(ds,
		damage{name: "truncate-half", fn: cut(len(src) / 2), want: "open=corrupt"},
		damage{name: "truncate-half+123", fn: cut(len(src)/2 + 123), want: "open=corrupt"},
		damage{name: "truncate-last-page", fn: cut(len(src) - int(ps)), want: "open=corrupt"},
		damage{name: "truncate-8KiB", fn: cut(8 << 10), want: "open=corrupt"},
		damage{name: "truncate-4KiB", fn: cut(4 << 10), want: "open=corrupt"},
		damage{name: "truncate-100B", fn: cut(100), want: "open=corrupt"},
		// An empty file is what Open creates: it opens as a new store.
		damage{name: "truncate-0", fn: cut(0), want: "open=ok check=ok reads=ok"},
		damage{name: "text-2900B", want: "open=notstore", fn: func([]byte) []byte {
			return []byte(strings.Repeat("This is a plain text file, not a mail store.\n", 65)[:2900])
		}},
		damage{name: "random-1MiB", want: "open=notstore", fn: func([]byte) []byte {
			b := make([]byte, 1<<20)
			r := rand.New(rand.NewPCG(7, 7))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}},
	)
	return ds
}

// TestOpen_DamagedFiles opens damaged copies of a real store, each in a
// child process: none may crash, and each must fail Open with ErrCorrupt
// or ErrNotStore, or open and then Check and read with nil or ErrCorrupt.
func TestOpen_DamagedFiles(t *testing.T) {
	src := damageSource(t)
	dir := t.TempDir()
	counts := map[string]int{}
	for i, d := range damages(src) {
		t.Run(d.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("d%d.db", i))
			if err := os.WriteFile(path, d.fn(src), 0o600); err != nil {
				t.Fatal(err)
			}
			got := runDamageChild(t, path)
			class, _, _ := strings.Cut(got, ":")
			counts[class]++
			t.Logf("%s: %s", d.name, got)
			switch {
			case d.want != "":
				if got != d.want {
					t.Fatalf("got %q, want %q", got, d.want)
				}
			case got == "open=corrupt", got == "open=notstore":
			case strings.HasPrefix(got, "open=ok "):
				if strings.Contains(got, "other") || strings.Contains(got, "notstore") {
					t.Fatalf("untyped error after Open: %s", got)
				}
			default:
				t.Fatalf("got %q", got)
			}
		})
	}
	t.Logf("outcomes: %v", counts)
}

// runDamageChild opens path in a child process and returns its line, or
// "crash: ..." when the child did not exit normally.
func runDamageChild(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), damageChildEnv+"="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return fmt.Sprintf("crash: %v: %s", err, first)
	}
	return strings.TrimSpace(stdout.String())
}

// TestOpen_DamagedInProcess repeats a few damages without a child, for the
// race detector and coverage.
func TestOpen_DamagedInProcess(t *testing.T) {
	src := damageSource(t)
	dir := t.TempDir()
	for i, d := range damages(src) {
		if !strings.HasPrefix(d.name, "truncate") && !strings.HasPrefix(d.name, "zero-page") {
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("d%d.db", i))
		if err := os.WriteFile(path, d.fn(src), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, &Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotStore) {
				t.Errorf("%s: Open = %v, want ErrCorrupt or ErrNotStore", d.name, err)
			}
			var ce *CorruptError
			if errors.As(err, &ce) && ce.Path != path {
				t.Errorf("%s: CorruptError.Path = %q, want %q", d.name, ce.Path, path)
			}
			continue
		}
		if err := s.Check(context.Background()); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Check = %v", d.name, err)
		}
		if err := readAll(s); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: reads = %v", d.name, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close = %v", d.name, err)
		}
	}
}

// TestStore_DamagedAfterOpen damages the file behind an open store's back
// (bbolt maps it, so the damage shows at once): reads, Check and Apply fail
// with ErrCorrupt instead of crashing the process.
func TestStore_DamagedAfterOpen(t *testing.T) {
	src := damageSource(t)
	ps := int64(parseMeta(src).pageSize)
	for _, tc := range []struct {
		name   string
		damage func(f *os.File) error
	}{
		{"zero-pages", func(f *os.File) error {
			_, err := f.WriteAt(make([]byte, int64(len(src))-2*ps), 2*ps)
			return err
		}},
		{"truncate-8KiB", func(f *os.File) error { return f.Truncate(8 << 10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			if err := os.WriteFile(path, src, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, &Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := readAll(s); err != nil {
				t.Fatalf("reads before the damage: %v", err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			ctx := context.Background()
			mb := Mailbox("user1@example.com")
			if _, err := s.Item(ctx, mb, testItem("", 5).ID); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Item = %v, want ErrCorrupt", err)
			}
			if err := readAll(s); !errors.Is(err, ErrCorrupt) {
				t.Errorf("reads = %v, want ErrCorrupt", err)
			}
			if err := s.Check(ctx); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Check = %v, want ErrCorrupt", err)
			}
			// Backup copies pages as they are; it must only not crash.
			_, _ = s.Backup(ctx, io.Discard)
			if err := s.Apply(ctx, Batch{Mailbox: mb, ReadFlags: []ReadFlag{{ID: testItem("", 5).ID, IsRead: true}}}); err == nil {
				t.Errorf("Apply on a damaged file succeeded")
			}
		})
	}
}
