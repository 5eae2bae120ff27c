package localstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// pageSize is how many index entries one read transaction of a listing
// covers; a listing longer than that reads in several transactions.
const pageSize = 256

// view runs fn in a read transaction on mb's buckets. fn gets nil buckets
// never: a missing mailbox is ErrNotFound.
func (s *Store) view(mb Mailbox, fn func(m *mbox) error) error {
	return s.readTx(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, nil, mb, false)
		if err != nil {
			return err
		}
		if m == nil {
			return fmt.Errorf("%w: mailbox %q", ErrNotFound, mb)
		}
		return fn(m)
	})
}

// viewValue checks ctx, then returns what fn computes in a read transaction
// on mb's buckets (see view).
func viewValue[T any](ctx context.Context, s *Store, mb Mailbox, fn func(m *mbox) (T, error)) (T, error) {
	var out T
	if err := ctx.Err(); err != nil {
		return out, err
	}
	err := s.view(mb, func(m *mbox) error {
		var err error
		out, err = fn(m)
		return err
	})
	return out, err
}

// Mailboxes returns the mirrored mailboxes' states, ordered by address.
func (s *Store) Mailboxes(ctx context.Context) ([]MailboxState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []MailboxState
	err := s.readTx(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketMailboxes)
		if root == nil {
			return &CorruptError{Bucket: "mailboxes", Reason: "missing"}
		}
		return root.ForEachBucket(func(k []byte) error {
			mb := Mailbox(k)
			st, ok := decodeState(mb, root.Bucket(k).Get(keyState))
			if !ok {
				return &CorruptError{Mailbox: mb, Bucket: "state", Key: string(keyState), Reason: "undecodable mailbox state"}
			}
			out = append(out, st.MailboxState)
			return nil
		})
	})
	return out, err
}

// MailboxState returns mb's hierarchy SyncState, subscription state and Seq.
func (s *Store) MailboxState(ctx context.Context, mb Mailbox) (MailboxState, error) {
	return viewValue(ctx, s, mb, func(m *mbox) (MailboxState, error) {
		if err := m.loadState(); err != nil {
			return MailboxState{}, err
		}
		return m.state.MailboxState, nil
	})
}

// Stats summarises mb's mirror in one read transaction.
func (s *Store) Stats(ctx context.Context, mb Mailbox) (Stats, error) {
	return viewValue(ctx, s, mb, func(m *mbox) (Stats, error) {
		if err := m.loadState(); err != nil {
			return Stats{}, err
		}
		st := Stats{MIMEItems: m.state.MIMEItems, MIMEBytes: m.state.MIMEBytes, Seq: m.state.Seq}
		err := m.folders.ForEach(func(k, v []byte) error {
			f, _, ok := decodeFolder(FolderID(k), v)
			if !ok {
				return m.corrupt("folders", k, "undecodable folder")
			}
			st.Folders++
			st.Items += f.LocalItems
			st.Unread += f.LocalUnread
			return nil
		})
		return st, err
	})
}

// Folder returns one folder.
func (s *Store) Folder(ctx context.Context, mb Mailbox, id FolderID) (Folder, error) {
	return viewValue(ctx, s, mb, func(m *mbox) (Folder, error) {
		e, err := m.folder(id)
		if err != nil {
			return Folder{}, err
		}
		if e == nil {
			return Folder{}, fmt.Errorf("%w: folder %q", ErrNotFound, id)
		}
		return e.f, nil
	})
}

// Folders yields mb's folder tree depth first, parents before children.
// Roots are folders whose parent is not mirrored; siblings are ordered by
// DisplayName, then ID. The whole tree is read in one transaction.
func (s *Store) Folders(ctx context.Context, mb Mailbox) iter.Seq2[Folder, error] {
	return func(yield func(Folder, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(Folder{}, err)
			return
		}
		var all []Folder
		err := s.view(mb, func(m *mbox) error {
			return m.folders.ForEach(func(k, v []byte) error {
				f, _, ok := decodeFolder(FolderID(k), v)
				if !ok {
					return m.corrupt("folders", k, "undecodable folder")
				}
				all = append(all, f)
				return nil
			})
		})
		if err == nil {
			all, err = folderTree(mb, all)
		}
		yieldAll(yield, all, err)
	}
}

// yieldAll yields err alone when it is set, else each of vs in order. It
// reports whether the consumer asked for more.
func yieldAll[T any](yield func(T, error) bool, vs []T, err error) bool {
	if err != nil {
		var zero T
		yield(zero, err)
		return false
	}
	for _, v := range vs {
		if !yield(v, nil) {
			return false
		}
	}
	return true
}

// folderTree orders folders depth first (see Folders).
func folderTree(mb Mailbox, all []Folder) ([]Folder, error) {
	byID := make(map[FolderID]int, len(all))
	for i, f := range all {
		byID[f.ID] = i
	}
	children := map[FolderID][]int{}
	var roots []int
	for i, f := range all {
		if _, ok := byID[f.ParentID]; ok {
			children[f.ParentID] = append(children[f.ParentID], i)
		} else {
			roots = append(roots, i)
		}
	}
	order := func(ix []int) {
		slices.SortFunc(ix, func(a, b int) int {
			if c := strings.Compare(all[a].DisplayName, all[b].DisplayName); c != 0 {
				return c
			}
			return strings.Compare(string(all[a].ID), string(all[b].ID))
		})
	}
	out := make([]Folder, 0, len(all))
	var walk func(ix []int)
	walk = func(ix []int) {
		order(ix)
		for _, i := range ix {
			out = append(out, all[i])
			walk(children[all[i].ID])
		}
	}
	walk(roots)
	if len(out) != len(all) {
		return nil, &CorruptError{Mailbox: mb, Bucket: "folders", Reason: "folder cycle"}
	}
	return out, nil
}

// Items yields the items of one folder newest first (by Received, ties by ID
// ascending), as q selects. An unknown folder yields ErrNotFound.
//
// Listings of up to 256 items are read in one transaction, a consistent
// snapshot; longer ones read 256 at a time and may see commits made in
// between, like a cursor would. Stopping the loop early is fine.
func (s *Store) Items(ctx context.Context, mb Mailbox, folder FolderID, q Query) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		var (
			num  uint32 // the folder's number, from the first page
			next []byte // where the next page starts; nil on the first
		)
		left := q.Limit
		if left <= 0 {
			left = -1
		}
		for left != 0 {
			if err := ctx.Err(); err != nil {
				yield(Item{}, err)
				return
			}
			n := pageSize
			if left > 0 && left < n {
				n = left
			}
			var page []Item
			more := false
			err := s.view(mb, func(m *mbox) error {
				fnum, found, err := m.folderNum(folder)
				if err != nil {
					return err
				}
				if next == nil {
					if !found {
						return fmt.Errorf("%w: folder %q", ErrNotFound, folder)
					}
					num = fnum
				} else if !found || fnum != num {
					return nil // deleted since the last page: the listing ends
				}
				prefix := appendFolderKey(nil, num)
				idx := m.index
				if q.UnreadOnly {
					idx = m.unread
				}
				c := idx.Cursor()
				var k []byte
				switch {
				case next != nil:
					k, _ = c.Seek(next)
				case !q.After.IsZero():
					seek := appendIndexKey(nil, num, q.After.Received, q.After.ID)
					if k, _ = c.Seek(seek); k != nil && bytes.Equal(k, seek) {
						k, _ = c.Next()
					}
				default:
					k, _ = c.Seek(prefix)
				}
				for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
					if len(page) == n {
						next, more = append([]byte(nil), k...), true
						return nil
					}
					id, v, err := m.indexedItem(k)
					if err != nil {
						return err
					}
					it, fnum, ok := decodeItem(ItemID(id), v)
					if !ok || fnum != num {
						return m.corrupt("items", id, "undecodable item or index in the wrong folder")
					}
					it.FolderID = folder
					page = append(page, it)
				}
				return nil
			})
			if !yieldAll(yield, page, err) {
				return
			}
			if left > 0 {
				left -= len(page)
			}
			if !more {
				return
			}
		}
	}
}

// Item returns one item.
func (s *Store) Item(ctx context.Context, mb Mailbox, id ItemID) (Item, error) {
	return viewValue(ctx, s, mb, func(m *mbox) (Item, error) {
		v := m.items.Get([]byte(id))
		if v == nil {
			return Item{}, fmt.Errorf("%w: item %q", ErrNotFound, id)
		}
		it, fnum, ok := decodeItem(id, v)
		if !ok {
			return Item{}, m.corrupt("items", []byte(id), "undecodable item")
		}
		f := m.fnums.Get(appendFolderKey(nil, fnum))
		if f == nil {
			return Item{}, m.corrupt("items", []byte(id), "item refers to a missing folder number")
		}
		it.FolderID = FolderID(f)
		return it, nil
	})
}

// MIMEBytes returns a copy of an item's MIME content; ErrNotFound when none
// is stored.
func (s *Store) MIMEBytes(ctx context.Context, mb Mailbox, id ItemID) ([]byte, error) {
	return viewValue(ctx, s, mb, func(m *mbox) ([]byte, error) {
		v := m.mime.Get([]byte(id))
		if v == nil {
			return nil, fmt.Errorf("%w: MIME of item %q", ErrNotFound, id)
		}
		return append(make([]byte, 0, len(v)), v...), nil
	})
}

// MIME returns an item's MIME content as a reader. The reader holds a read
// transaction open (a consistent view, no copy) until it is closed: close it
// promptly, as an open read transaction keeps the file from reusing freed
// pages, delays the writer's remapping of a growing file, and makes
// Store.Close wait. Use MIMEBytes for a copy that needs no closing.
func (s *Store) MIME(ctx context.Context, mb Mailbox, id ItemID) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			return nil, ErrClosed
		}
		return nil, err
	}
	var v []byte
	err = guard("read", s.log, func() error {
		m, err := openMbox(tx, nil, mb, false)
		if err == nil && m == nil {
			err = fmt.Errorf("%w: mailbox %q", ErrNotFound, mb)
		}
		if err != nil {
			return err
		}
		if v = m.mime.Get([]byte(id)); v == nil {
			return fmt.Errorf("%w: MIME of item %q", ErrNotFound, id)
		}
		return nil
	})
	if err != nil {
		_ = tx.Rollback()
		return nil, withPath(err, s.path)
	}
	return &mimeReader{Reader: bytes.NewReader(v), tx: tx, log: s.log}, nil
}

type mimeReader struct {
	*bytes.Reader
	tx  *bolt.Tx
	log *slog.Logger
}

// Close ends the read transaction; reading after Close fails.
func (r *mimeReader) Close() error {
	if r.tx == nil {
		return ErrClosed
	}
	r.Reader = bytes.NewReader(nil)
	err := r.tx.Rollback()
	r.tx = nil
	return err
}

// Read reads the MIME content; it fails after Close.
func (r *mimeReader) Read(p []byte) (int, error) {
	if r.tx == nil {
		return 0, ErrClosed
	}
	// The bytes are in the mapped file: a file cut short behind the
	// store's back faults here.
	var n int
	err := guard("MIME read", r.log, func() error {
		var err error
		n, err = r.Reader.Read(p)
		return err
	})
	return n, err
}

// Search yields the items whose subject, sender name or sender address
// contains q.Text (case-insensitively), newest first (ties by ID). It reads
// every item of the mailbox (or of q.Folder) in one transaction and holds the
// matches in memory before yielding them.
func (s *Store) Search(ctx context.Context, mb Mailbox, q SearchQuery) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		if q.Text == "" {
			yield(Item{}, fmt.Errorf("%w: empty search text", ErrInvalidQuery))
			return
		}
		needle := strings.ToLower(q.Text)
		var found []Item
		err := s.view(mb, func(m *mbox) error {
			match := func(k, v []byte) error {
				subject, name, email, ok := searchFields(v)
				if ok && !containsFold(subject, needle) && !containsFold(name, needle) && !containsFold(email, needle) {
					return nil // the common case: no match, nothing decoded
				}
				it, fnum, ok := decodeItem(ItemID(k), v)
				if !ok {
					return m.corrupt("items", k, "undecodable item")
				}
				e, err := m.folderByNum(fnum)
				if err != nil {
					return err
				}
				it.FolderID = e.f.ID
				found = append(found, it)
				return nil
			}
			if q.Folder == "" {
				n := 0
				return m.items.ForEach(func(k, v []byte) error {
					if n++; n%4096 == 0 {
						if err := ctx.Err(); err != nil {
							return err
						}
					}
					return match(k, v)
				})
			}
			e, err := m.folder(q.Folder)
			if err != nil || e == nil {
				if err == nil {
					err = fmt.Errorf("%w: folder %q", ErrNotFound, q.Folder)
				}
				return err
			}
			prefix := appendFolderKey(nil, e.num)
			c := m.index.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				id, v, err := m.indexedItem(k)
				if err != nil {
					return err
				}
				if err := match(id, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			slices.SortFunc(found, compareNewest)
			if q.Limit > 0 && len(found) > q.Limit {
				found = found[:q.Limit]
			}
		}
		yieldAll(yield, found, err)
	}
}

// compareNewest orders items newest first, ties by ID ascending: the order
// of the index keys.
func compareNewest(a, b Item) int {
	if c := b.Received.Compare(a.Received); c != 0 {
		return c
	}
	return strings.Compare(string(a.ID), string(b.ID))
}

// containsFold reports whether strings.ToLower(s) contains needle (already
// lower case), without allocating when both are ASCII.
func containsFold(s []byte, needle string) bool {
	if !isASCII(s) || !isASCII([]byte(needle)) {
		return strings.Contains(strings.ToLower(string(s)), needle)
	}
	n := len(needle)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// searchFields returns the subject and sender of an item record without
// copying them; ok is false for a record it cannot read (the caller's full
// decode then reports it).
func searchFields(v []byte) (subject, name, email []byte, ok bool) {
	if len(v) < 2 || v[0] != itemFormat {
		return nil, nil, nil, false
	}
	off := 2
	skipVarint := func() bool {
		_, n := binary.Uvarint(v[off:])
		off += n
		return n > 0
	}
	str := func() ([]byte, bool) {
		l, n := binary.Uvarint(v[off:])
		if n <= 0 || l > uint64(len(v)-off-n) {
			return nil, false
		}
		off += n
		s := v[off : off+int(l)]
		off += int(l)
		return s, true
	}
	// Received (two varints), folder number, importance byte.
	if !skipVarint() || !skipVarint() || !skipVarint() || off >= len(v) {
		return nil, nil, nil, false
	}
	off++
	if _, ok := str(); !ok { // change key
		return nil, nil, nil, false
	}
	if _, ok := str(); !ok { // item class
		return nil, nil, nil, false
	}
	if subject, ok = str(); !ok {
		return nil, nil, nil, false
	}
	if name, ok = str(); !ok {
		return nil, nil, nil, false
	}
	if email, ok = str(); !ok {
		return nil, nil, nil, false
	}
	return subject, name, email, true
}

// indexedItem returns the id and the record of the item that the index
// key k points at.
func (m *mbox) indexedItem(k []byte) (id, v []byte, err error) {
	_, _, id, ok := parseIndexKey(k)
	if !ok {
		return nil, nil, m.corrupt("index", k, "malformed index key")
	}
	if v = m.items.Get(id); v == nil {
		return nil, nil, m.corrupt("index", k, "index entry without item")
	}
	return id, v, nil
}

// folderNum returns the number of folder id without decoding its record.
func (m *mbox) folderNum(id FolderID) (num uint32, found bool, err error) {
	v := m.folders.Get([]byte(id))
	if v == nil {
		return 0, false, nil
	}
	num, ok := decodeFolderNum(v)
	if !ok {
		return 0, false, m.corrupt("folders", []byte(id), "undecodable folder")
	}
	return num, true, nil
}
