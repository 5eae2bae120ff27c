package localstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the whole store in one read transaction: bbolt's page
// consistency, every record decodes, every item's folder exists, the
// newest-first and unread indexes hold exactly one entry per item (unread:
// per unread item), the folder counters and MIME totals match, MIME belongs
// to existing items, and no folder is its own ancestor. It returns nil or
// an error matching ErrCorrupt that describes the first problems found.
func (s *Store) Check(ctx context.Context) error {
	// bbolt's page check compares the transaction's pages with the
	// database's current freelist, read without bbolt's locking: no commit
	// may come between the start of this transaction and the end of that
	// check (a commit would free pages the transaction still sees, and
	// race on the freelist).
	s.commitMu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			s.commitMu.Unlock()
		}
	}
	defer unlock()
	return s.readTx(func(tx *bolt.Tx) error {
		// bbolt's own check walks the pages in a goroutine of its own,
		// where a damaged page would crash the process: verify them first.
		if err := verifyOpenFile(s.file, uint64(tx.ID())); err != nil {
			return err
		}
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
			if len(errs) == 10 {
				break
			}
		}
		unlock()
		if len(errs) > 0 {
			return &CorruptError{Bucket: "bbolt", Reason: errors.Join(errs...).Error()}
		}
		root := tx.Bucket(bucketMailboxes)
		if root == nil {
			return &CorruptError{Bucket: "mailboxes", Reason: "missing"}
		}
		return root.ForEachBucket(func(k []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, err := openMbox(tx, nil, Mailbox(k), false)
			if err != nil {
				return err
			}
			if err := m.loadState(); err != nil {
				return err
			}
			return checkMailbox(m)
		})
	})
}

func checkMailbox(m *mbox) error {
	folders := map[FolderID]Folder{}
	byNum := map[uint32]FolderID{}
	err := m.folders.ForEach(func(k, v []byte) error {
		f, num, ok := decodeFolder(FolderID(k), v)
		if !ok || num == 0 {
			return m.corrupt("folders", k, "undecodable folder")
		}
		if len(k) == 0 || f.ParentID == f.ID {
			return m.corrupt("folders", k, "bad folder id or parent")
		}
		if _, dup := byNum[num]; dup || num > m.state.LastFolder {
			return m.corrupt("folders", k, fmt.Sprintf("folder number %d reused or beyond the last one handed out", num))
		}
		folders[f.ID] = f
		byNum[num] = f.ID
		return nil
	})
	if err != nil {
		return err
	}
	n := 0
	err = m.fnums.ForEach(func(k, v []byte) error {
		if len(k) != folderKeyLen || byNum[binary.BigEndian.Uint32(k)] != FolderID(v) {
			return m.corrupt("fnums", k, "folder number without a matching folder")
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n != len(byNum) {
		return m.corrupt("fnums", nil, fmt.Sprintf("%d folder numbers for %d folders", n, len(byNum)))
	}
	all := make([]Folder, 0, len(folders))
	for _, f := range folders {
		all = append(all, f)
	}
	if _, err := folderTree(m.name, all); err != nil {
		return err
	}
	type counts struct{ items, unread int64 }
	got := map[FolderID]*counts{}
	// Every item's keys must be in the indexes; with the entry counts
	// equal to the item counts, the indexes hold nothing else. Memory
	// stays constant however many items there are.
	idx, unr := m.index.Cursor(), m.unread.Cursor()
	var nItems, nUnread int
	has := func(c *bolt.Cursor, k []byte) bool {
		got, _ := c.Seek(k)
		return bytes.Equal(got, k)
	}
	err = m.items.ForEach(func(k, v []byte) error {
		it, fnum, ok := decodeItem(ItemID(k), v)
		if !ok {
			return m.corrupt("items", k, "undecodable item")
		}
		if it.FolderID, ok = byNum[fnum]; !ok {
			return m.corrupt("items", k, fmt.Sprintf("item in missing folder number %d", fnum))
		}
		c := got[it.FolderID]
		if c == nil {
			c = &counts{}
			got[it.FolderID] = c
		}
		c.items++
		key := appendIndexKey(nil, fnum, it.Received, it.ID)
		nItems++
		if !has(idx, key) {
			return m.corrupt("index", key, "item without index entry")
		}
		if !it.IsRead {
			c.unread++
			nUnread++
			if !has(unr, key) {
				return m.corrupt("unread", key, "unread item without unread entry")
			}
		} else if has(unr, key) {
			return m.corrupt("unread", key, "read item in the unread index")
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, f := range folders {
		c := got[id]
		if c == nil {
			c = &counts{}
		}
		if f.LocalItems != c.items || f.LocalUnread != c.unread {
			return m.corrupt("folders", []byte(id), fmt.Sprintf("counters %d/%d, items say %d/%d",
				f.LocalItems, f.LocalUnread, c.items, c.unread))
		}
	}
	if err := checkIndex(m, m.index, "index", nItems); err != nil {
		return err
	}
	if err := checkIndex(m, m.unread, "unread", nUnread); err != nil {
		return err
	}
	var mimeItems, mimeBytes int64
	err = m.mime.ForEach(func(k, v []byte) error {
		if m.items.Get(k) == nil {
			return m.corrupt("mime", k, "MIME without item")
		}
		mimeItems++
		mimeBytes += int64(len(v))
		return nil
	})
	if err != nil {
		return err
	}
	if mimeItems != m.state.MIMEItems || mimeBytes != m.state.MIMEBytes {
		return m.corrupt("state", keyState, fmt.Sprintf("MIME totals %d/%d, stored MIME says %d/%d",
			m.state.MIMEItems, m.state.MIMEBytes, mimeItems, mimeBytes))
	}
	return nil
}

// checkIndex verifies that idx holds want well-formed, empty entries.
func checkIndex(m *mbox, idx *bolt.Bucket, name string, want int) error {
	n := 0
	err := idx.ForEach(func(k, v []byte) error {
		if _, _, _, ok := parseIndexKey(k); !ok || len(v) != 0 {
			return m.corrupt(name, k, "malformed index entry")
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n != want {
		return m.corrupt(name, nil, fmt.Sprintf("%d entries for %d items", n, want))
	}
	return nil
}
