package localstore

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the schema this package writes. Open migrates files with
// an older schema forward, in one transaction, and refuses newer ones.
//
// History:
//
//	1: folders, items, the newest-first index, MIME, mailbox state.
//	2: adds the unread index and the per-folder LocalItems/LocalUnread
//	   counters (folder record format 2); migrated by deriving both from
//	   the items.
const SchemaVersion uint32 = 2

// Bucket layout:
//
//	meta/schema                      uint32 big endian
//	mailboxes/<mailbox>/state        stateRecord
//	mailboxes/<mailbox>/folders/<id> folder record
//	mailboxes/<mailbox>/items/<id>   item record
//	mailboxes/<mailbox>/index/<key>  empty; key = folder|inverted time|item id
//	mailboxes/<mailbox>/unread/<key> empty; same key, unread items only (schema 2)
//	mailboxes/<mailbox>/mime/<id>    MIME bytes
var (
	bucketMeta      = []byte("meta")
	bucketMailboxes = []byte("mailboxes")
	keySchema       = []byte("schema")
	keyState        = []byte("state")
	bucketFolders   = []byte("folders")
	bucketItems     = []byte("items")
	bucketIndex     = []byte("index")
	bucketUnread    = []byte("unread")
	bucketMIME      = []byte("mime")
)

// migrations[v] migrates a file from schema v to v+1 inside the given
// transaction.
var migrations = map[uint32]func(tx *bolt.Tx) error{
	1: migrate1to2,
}

// readSchema returns the file's schema version, 0 for an empty file.
func readSchema(tx *bolt.Tx) (uint32, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if empty {
			return 0, nil
		}
		return 0, ErrNotStore
	}
	v := meta.Get(keySchema)
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: schema version record of %d bytes", ErrNotStore, len(v))
	}
	return binary.BigEndian.Uint32(v), nil
}

func writeSchema(tx *bolt.Tx, v uint32) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, v))
}

// prepareSchema creates a new file's layout or migrates an old one.
func prepareSchema(tx *bolt.Tx) error {
	v, err := readSchema(tx)
	if err != nil {
		return err
	}
	switch {
	case v == 0:
		if _, err := tx.CreateBucketIfNotExists(bucketMailboxes); err != nil {
			return err
		}
		return writeSchema(tx, SchemaVersion)
	case v > SchemaVersion:
		return &SchemaError{Found: v, Supported: SchemaVersion}
	}
	for ; v < SchemaVersion; v++ {
		m := migrations[v]
		if m == nil {
			return fmt.Errorf("localstore: no migration from schema %d", v)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("localstore: migrate schema %d to %d: %w", v, v+1, err)
		}
		if err := writeSchema(tx, v+1); err != nil {
			return err
		}
	}
	return nil
}

// migrate1to2 builds the unread index and the folder counters from the items.
func migrate1to2(tx *bolt.Tx) error {
	root := tx.Bucket(bucketMailboxes)
	if root == nil {
		return ErrNotStore
	}
	var names [][]byte
	if err := root.ForEachBucket(func(k []byte) error {
		names = append(names, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	var a arena
	for _, name := range names {
		mb := Mailbox(name)
		b := root.Bucket(name)
		unread, err := b.CreateBucketIfNotExists(bucketUnread)
		if err != nil {
			return err
		}
		folders, items := b.Bucket(bucketFolders), b.Bucket(bucketItems)
		if folders == nil || items == nil {
			return &CorruptError{Mailbox: mb, Bucket: "mailbox", Reason: "missing folders or items bucket"}
		}
		type counts struct{ items, unread int64 }
		n := map[FolderID]*counts{}
		err = items.ForEach(func(k, v []byte) error {
			h, ok := decodeItemHead(v)
			if !ok {
				return &CorruptError{Mailbox: mb, Bucket: "items", Key: string(k), Reason: "undecodable item"}
			}
			c := n[h.folder]
			if c == nil {
				c = &counts{}
				n[h.folder] = c
			}
			c.items++
			if h.flags&flagRead == 0 {
				c.unread++
				key := a.end(appendIndexKey(a.begin(64+len(k)+len(h.folder)), h.folder, h.received, ItemID(k)))
				return unread.Put(key, nil)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var fs []Folder
		err = folders.ForEach(func(k, v []byte) error {
			f, ok := decodeFolder(FolderID(k), v)
			if !ok {
				return &CorruptError{Mailbox: mb, Bucket: "folders", Key: string(k), Reason: "undecodable folder"}
			}
			fs = append(fs, f)
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range fs {
			if c := n[f.ID]; c != nil {
				f.LocalItems, f.LocalUnread = c.items, c.unread
			}
			v := a.end(appendFolder(a.begin(256+len(f.SyncState)), &f, folderFormat))
			if err := folders.Put([]byte(f.ID), v); err != nil {
				return err
			}
		}
	}
	return nil
}
