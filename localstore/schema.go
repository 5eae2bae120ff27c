package localstore

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the schema this package writes. Open migrates files with
// an older schema forward, in one transaction, and refuses newer ones.
//
// History:
//
//	1: folders, items, the newest-first index keyed by folder id, MIME,
//	   mailbox state.
//	2: adds the unread index and the per-folder LocalItems/LocalUnread
//	   counters.
//	3: numbers folders per mailbox: item records and index keys carry the
//	   4-byte number instead of the folder id (a quarter of the file with
//	   Exchange-length ids); adds the fnums bucket.
//
// Files of schema 1 and 2 are migrated to 3 in one step that rewrites the
// folder and item records and rebuilds both indexes from the items.
const SchemaVersion uint32 = 3

// Bucket layout (schema 3):
//
//	meta/schema                      uint32 big endian
//	mailboxes/<mailbox>/state        stateRecord
//	mailboxes/<mailbox>/folders/<id> folder record, with the folder's number
//	mailboxes/<mailbox>/fnums/<num>  folder id; num is uint32 big endian
//	mailboxes/<mailbox>/items/<id>   item record, with its folder's number
//	mailboxes/<mailbox>/index/<key>  empty; key = folder num|inverted time|item id
//	mailboxes/<mailbox>/unread/<key> empty; same key, unread items only
//	mailboxes/<mailbox>/mime/<id>    MIME bytes
var (
	bucketMeta       = []byte("meta")
	bucketMailboxes  = []byte("mailboxes")
	keySchema        = []byte("schema")
	keyState         = []byte("state")
	bucketFolders    = []byte("folders")
	bucketFolderNums = []byte("fnums")
	bucketItems      = []byte("items")
	bucketIndex      = []byte("index")
	bucketUnread     = []byte("unread")
	bucketMIME       = []byte("mime")
)

// migration moves a file from one schema to a later one inside the given
// transaction.
type migration struct {
	to  uint32
	run func(tx *bolt.Tx) error
}

// migrations maps a schema to its migration.
var migrations = map[uint32]migration{
	1: {to: 3, run: migrateToV3},
	2: {to: 3, run: migrateToV3},
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
	for v < SchemaVersion {
		m, ok := migrations[v]
		if !ok || m.to <= v {
			return fmt.Errorf("localstore: no migration from schema %d", v)
		}
		if err := m.run(tx); err != nil {
			return fmt.Errorf("localstore: migrate schema %d to %d: %w", v, m.to, err)
		}
		if err := writeSchema(tx, m.to); err != nil {
			return err
		}
		v = m.to
	}
	return nil
}

// migrateToV3 rewrites a schema 1 or 2 file: it numbers the folders,
// rewrites the folder, item and state records in their schema-3 formats and
// rebuilds the newest-first and unread indexes and the folder counters from
// the items. Items are rewritten in chunks, so memory stays bounded.
func migrateToV3(tx *bolt.Tx) error {
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
	for _, name := range names {
		if err := migrateMailboxToV3(root.Bucket(name), Mailbox(name)); err != nil {
			return err
		}
	}
	return nil
}

func migrateMailboxToV3(b *bolt.Bucket, mb Mailbox) error {
	var a arena
	corrupt := func(bucket string, k []byte, reason string) error {
		return &CorruptError{Mailbox: mb, Bucket: bucket, Key: string(k), Reason: reason}
	}
	st, ok := decodeState(mb, b.Get(keyState))
	if !ok {
		return corrupt("state", keyState, "undecodable mailbox state")
	}
	folders, items := b.Bucket(bucketFolders), b.Bucket(bucketItems)
	if folders == nil || items == nil || b.Bucket(bucketMIME) == nil {
		return corrupt("mailbox", nil, "missing folders, items or mime bucket")
	}
	// Number the folders in id order; counters are recounted below.
	type entry struct {
		f   Folder
		num uint32
	}
	byID := map[FolderID]*entry{}
	var order []FolderID
	err := folders.ForEach(func(k, v []byte) error {
		f, _, ok := decodeFolder(FolderID(k), v)
		if !ok {
			return corrupt("folders", k, "undecodable folder")
		}
		st.LastFolder++
		f.LocalItems, f.LocalUnread = 0, 0
		byID[f.ID] = &entry{f: f, num: st.LastFolder}
		order = append(order, f.ID)
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketIndex, bucketUnread, bucketFolderNums} {
		if b.Bucket(name) != nil {
			if err := b.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	fnums, err := b.CreateBucket(bucketFolderNums)
	if err != nil {
		return err
	}
	index, err := b.CreateBucket(bucketIndex)
	if err != nil {
		return err
	}
	unread, err := b.CreateBucket(bucketUnread)
	if err != nil {
		return err
	}
	for _, id := range order {
		if err := fnums.Put(appendFolderKey(nil, byID[id].num), []byte(id)); err != nil {
			return err
		}
	}
	// Rewrite the items a chunk at a time: bbolt cursors must be
	// repositioned after the bucket changes.
	const chunk = 1024
	var after []byte
	for {
		type rec struct {
			id ItemID
			it Item
		}
		var recs []rec
		c := items.Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.First()
		} else if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
		for ; k != nil && len(recs) < chunk; k, v = c.Next() {
			it, ok := decodeItemV1(ItemID(k), v)
			if !ok {
				return corrupt("items", k, "undecodable item")
			}
			recs = append(recs, rec{id: ItemID(k), it: it})
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			e := byID[r.it.FolderID]
			if e == nil {
				return corrupt("items", []byte(r.id), "item in a missing folder")
			}
			key := a.end(appendIndexKey(a.begin(folderKeyLen+timeKeyLen+len(r.id)), e.num, r.it.Received, r.id))
			if err := items.Put([]byte(r.id), a.end(appendItem(a.begin(itemSizeHint(&r.it)), &r.it, e.num))); err != nil {
				return err
			}
			if err := index.Put(key, nil); err != nil {
				return err
			}
			e.f.LocalItems++
			if !r.it.IsRead {
				e.f.LocalUnread++
				if err := unread.Put(key, nil); err != nil {
					return err
				}
			}
		}
		after = []byte(recs[len(recs)-1].id)
	}
	for _, id := range order {
		e := byID[id]
		if err := folders.Put([]byte(id), appendFolder(nil, &e.f, e.num)); err != nil {
			return err
		}
	}
	return b.Put(keyState, appendState(nil, &st))
}
