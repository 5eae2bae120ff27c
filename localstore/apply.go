package localstore

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// mbox is one mailbox's buckets inside a write transaction, with the folder
// records the current batch has touched (written back by flush).
type mbox struct {
	name                                Mailbox
	root                                *bolt.Bucket
	folders, items, index, unread, mime *bolt.Bucket
	fnums                               *bolt.Bucket // folder number -> folder id
	state                               stateRecord
	stateDirty                          bool
	cache                               map[FolderID]*folderEntry
	byNum                               map[uint32]FolderID
	a                                   *arena
	// pending holds the index keys of the Items phase (value: unread),
	// put in key order at its end: bbolt inserts into a node's sorted
	// slice, so many keys put in descending order (mail listed oldest
	// first is newest-first keys descending) would cost quadratic time.
	pending map[string]bool
	// pendingItems holds the Items phase's records, put in key order at
	// its end for the same reason (item ids end in scattered bytes, and
	// a new store's first leaf takes thousands of them before it is
	// split); itemPos maps an id to its last record there.
	pendingItems []pendingItem
	itemPos      map[ItemID]int
	created      bool // this batch created the mailbox
}

// fillPercent is the page fill target for the item and index buckets.
const fillPercent = 0.9

// pendingItem is an item record waiting for putPending.
type pendingItem struct {
	key, val []byte
}

type folderEntry struct {
	f       Folder
	num     uint32
	dirty   bool
	deleted bool
}

func (m *mbox) corrupt(bucket string, key []byte, reason string) error {
	return &CorruptError{Mailbox: m.name, Bucket: bucket, Key: string(key), Reason: reason}
}

// openMbox opens mb's buckets, creating them when create is set. It returns
// nil and no error for a missing mailbox when create is not set. The state
// record is loaded for writers (create set); readers call loadState when
// they need it.
func openMbox(tx *bolt.Tx, a *arena, mb Mailbox, create bool) (*mbox, error) {
	root := tx.Bucket(bucketMailboxes)
	if root == nil {
		return nil, &CorruptError{Mailbox: mb, Bucket: "mailboxes", Reason: "missing"}
	}
	m := &mbox{name: mb, a: a, cache: map[FolderID]*folderEntry{}, byNum: map[uint32]FolderID{}}
	m.root = root.Bucket([]byte(mb))
	if m.root == nil {
		if !create {
			return nil, nil
		}
		var err error
		if m.root, err = root.CreateBucket([]byte(mb)); err != nil {
			return nil, err
		}
		for _, name := range [][]byte{bucketFolders, bucketFolderNums, bucketItems, bucketIndex, bucketUnread, bucketMIME} {
			if _, err := m.root.CreateBucket(name); err != nil {
				return nil, err
			}
		}
		m.state = stateRecord{MailboxState: MailboxState{Mailbox: mb}}
		m.stateDirty = true
		m.created = true
	} else if create {
		if err := m.loadState(); err != nil {
			return nil, err
		}
	}
	m.folders = m.root.Bucket(bucketFolders)
	m.fnums = m.root.Bucket(bucketFolderNums)
	m.items = m.root.Bucket(bucketItems)
	m.index = m.root.Bucket(bucketIndex)
	m.unread = m.root.Bucket(bucketUnread)
	m.mime = m.root.Bucket(bucketMIME)
	if m.folders == nil || m.fnums == nil || m.items == nil || m.index == nil || m.unread == nil || m.mime == nil {
		return nil, m.corrupt("mailbox", []byte(mb), "missing sub-bucket")
	}
	// Mail mostly arrives in order (index keys) and ids are close to
	// ordered: pack pages fuller than bbolt's default half, which leaves
	// append-mostly buckets half empty.
	m.items.FillPercent = fillPercent
	m.index.FillPercent = fillPercent
	m.unread.FillPercent = fillPercent
	return m, nil
}

// loadState decodes the mailbox state record into m.state.
func (m *mbox) loadState() error {
	st, ok := decodeState(m.name, m.root.Get(keyState))
	if !ok {
		return m.corrupt("state", keyState, "undecodable mailbox state")
	}
	m.state = st
	return nil
}

// folder returns the folder record, from the batch's cache or the bucket.
func (m *mbox) folder(id FolderID) (*folderEntry, error) {
	if e, ok := m.cache[id]; ok {
		if e.deleted {
			return nil, nil
		}
		return e, nil
	}
	v := m.folders.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	f, num, ok := decodeFolder(id, v)
	if !ok || num == 0 {
		return nil, m.corrupt("folders", []byte(id), "undecodable folder")
	}
	e := &folderEntry{f: f, num: num}
	m.cache[id] = e
	m.byNum[num] = id
	return e, nil
}

// folderByNum returns the folder numbered num; a missing one is corruption,
// as only items refer to folders by number.
func (m *mbox) folderByNum(num uint32) (*folderEntry, error) {
	id, ok := m.byNum[num]
	if !ok {
		k := appendFolderKey(nil, num)
		v := m.fnums.Get(k)
		if v == nil {
			return nil, m.corrupt("fnums", k, "item refers to a missing folder number")
		}
		id = FolderID(v)
	}
	e, err := m.folder(id)
	if err != nil {
		return nil, err
	}
	if e == nil || e.num != num {
		return nil, m.corrupt("fnums", []byte(id), "folder number maps to a missing folder")
	}
	return e, nil
}

// newFolder numbers and registers a folder created by this batch.
func (m *mbox) newFolder(id FolderID) (*folderEntry, error) {
	if m.state.LastFolder == maxFolderNum {
		return nil, m.corrupt("state", keyState, "folder numbers exhausted")
	}
	m.state.LastFolder++
	m.stateDirty = true
	e := &folderEntry{num: m.state.LastFolder, dirty: true}
	e.f.ID = id
	if err := m.fnums.Put(m.a.end(appendFolderKey(m.a.begin(folderKeyLen), e.num)), []byte(id)); err != nil {
		return nil, err
	}
	m.cache[id] = e
	m.byNum[e.num] = id
	return e, nil
}

// wouldCycle reports whether giving folder id the parent p makes id its own
// ancestor.
func (m *mbox) wouldCycle(id, p FolderID) (bool, error) {
	for steps := 0; p != ""; steps++ {
		if p == id {
			return true, nil
		}
		if steps > 1<<20 {
			return false, m.corrupt("folders", []byte(p), "parent chain does not end")
		}
		e, err := m.folder(p)
		if err != nil || e == nil {
			return false, err
		}
		p = e.f.ParentID
	}
	return false, nil
}

// itemRecord returns item id's record: the one this batch's Items phase
// has pending, else the stored one.
func (m *mbox) itemRecord(id ItemID) []byte {
	if i, ok := m.itemPos[id]; ok {
		return m.pendingItems[i].val
	}
	return m.items.Get([]byte(id))
}

// putPending writes the Items phase's records and index keys in ascending
// order (the last record of an id wins).
func (m *mbox) putPending() error {
	slices.SortStableFunc(m.pendingItems, func(a, b pendingItem) int { return bytes.Compare(a.key, b.key) })
	for i, p := range m.pendingItems {
		if i+1 < len(m.pendingItems) && bytes.Equal(p.key, m.pendingItems[i+1].key) {
			continue // superseded by a later record of the same id
		}
		if err := m.items.Put(p.key, p.val); err != nil {
			return err
		}
	}
	m.pendingItems, m.itemPos = nil, nil
	keys := slices.Sorted(maps.Keys(m.pending))
	for _, k := range keys {
		key := m.a.end(append(m.a.begin(len(k)), k...))
		if err := m.index.Put(key, nil); err != nil {
			return err
		}
		if m.pending[k] {
			if err := m.unread.Put(key, nil); err != nil {
				return err
			}
		}
	}
	m.pending = nil
	return nil
}

// unlinkItem removes the index entries of the stored item id (head h) and
// its counts; the record itself stays.
func (m *mbox) unlinkItem(id ItemID, h itemHead) error {
	e, err := m.folderByNum(h.fnum)
	if err != nil {
		return err
	}
	key := m.a.end(appendIndexKey(m.a.begin(folderKeyLen+timeKeyLen+len(id)), h.fnum, h.received, id))
	if _, ok := m.pending[string(key)]; ok {
		delete(m.pending, string(key))
	} else {
		if err := m.index.Delete(key); err != nil {
			return err
		}
		if h.flags&flagRead == 0 {
			if err := m.unread.Delete(key); err != nil {
				return err
			}
		}
	}
	e.f.LocalItems--
	if h.flags&flagRead == 0 {
		e.f.LocalUnread--
	}
	if e.f.LocalItems < 0 || e.f.LocalUnread < 0 || e.f.LocalUnread > e.f.LocalItems {
		return m.corrupt("folders", []byte(e.f.ID), "counters out of range")
	}
	e.dirty = true
	return nil
}

// deleteItem removes item id, its index entries and its MIME. It reports
// whether the item existed.
func (m *mbox) deleteItem(id ItemID) (bool, error) {
	k := []byte(id)
	v := m.items.Get(k)
	if v == nil {
		return false, nil
	}
	h, ok := decodeItemHead(v)
	if !ok {
		return false, m.corrupt("items", k, "undecodable item")
	}
	if err := m.unlinkItem(id, h); err != nil {
		return false, err
	}
	if err := m.items.Delete(k); err != nil {
		return false, err
	}
	return true, m.deleteMIME(k)
}

func (m *mbox) deleteMIME(k []byte) error {
	if old := m.mime.Get(k); old != nil {
		m.state.MIMEItems--
		m.state.MIMEBytes -= int64(len(old))
		m.stateDirty = true
		return m.mime.Delete(k)
	}
	return nil
}

func (m *mbox) flush() error {
	for id, e := range m.cache {
		if !e.dirty || e.deleted {
			continue
		}
		v := m.a.end(appendFolder(m.a.begin(128+len(e.f.ChangeKey)+len(e.f.ParentID)+len(e.f.DisplayName)+
			len(e.f.FolderClass)+len(e.f.SyncState)), &e.f, e.num))
		if err := m.folders.Put([]byte(id), v); err != nil {
			return err
		}
		e.dirty = false
	}
	if m.stateDirty {
		if m.state.MIMEItems < 0 || m.state.MIMEBytes < 0 {
			return m.corrupt("state", keyState, "MIME totals out of range")
		}
		v := m.a.end(appendState(m.a.begin(64+len(m.state.HierarchySyncState)+len(m.state.Subscription.ID)+
			len(m.state.Subscription.Watermark)), &m.state))
		if err := m.root.Put(keyState, v); err != nil {
			return err
		}
		m.stateDirty = false
	}
	return nil
}

// applyBatch applies b inside tx, appending what changed to changes. On error
// the caller must roll tx back.
func applyBatch(tx *bolt.Tx, a *arena, b *Batch, changes *[]Change) error {
	m, err := openMbox(tx, a, b.Mailbox, true)
	if err != nil {
		return &BatchError{Mailbox: b.Mailbox, Part: "Mailbox", Err: err}
	}
	if b.Seq != 0 && b.Seq <= m.state.Seq {
		return nil // applied already
	}
	add := func(c Change) {
		c.Mailbox = b.Mailbox
		*changes = append(*changes, c)
	}
	if m.created {
		add(Change{Kind: MailboxCreated})
	}
	fail := func(part string, i int, id string, err error) error {
		return &BatchError{Mailbox: b.Mailbox, Part: part, Index: i, ID: id, Err: err}
	}

	for i := range b.Folders {
		fi := &b.Folders[i]
		e, err := m.folder(fi.ID)
		if err != nil {
			return fail("Folders", i, string(fi.ID), err)
		}
		if cyc, err := m.wouldCycle(fi.ID, fi.ParentID); err != nil || cyc {
			if err == nil {
				err = fmt.Errorf("%w: parent %q is inside folder", ErrFolderCycle, fi.ParentID)
			}
			return fail("Folders", i, string(fi.ID), err)
		}
		kind := FolderUpdated
		if e == nil {
			if e, err = m.newFolder(fi.ID); err != nil {
				return fail("Folders", i, string(fi.ID), err)
			}
			kind = FolderCreated
		} else if e.f.ParentID != fi.ParentID {
			kind = FolderMoved
		}
		old := e.f.ParentID
		e.f.FolderInfo = *fi
		e.dirty = true
		add(Change{Kind: kind, Folder: fi.ID, OldFolder: oldIf(kind == FolderMoved, old)})
	}

	for i, mv := range b.FolderMoves {
		e, err := m.folder(mv.ID)
		if err != nil {
			return fail("FolderMoves", i, string(mv.ID), err)
		}
		if e == nil {
			return fail("FolderMoves", i, string(mv.ID), ErrUnknownFolder)
		}
		if cyc, err := m.wouldCycle(mv.ID, mv.NewParent); err != nil || cyc {
			if err == nil {
				err = fmt.Errorf("%w: parent %q is inside folder", ErrFolderCycle, mv.NewParent)
			}
			return fail("FolderMoves", i, string(mv.ID), err)
		}
		if e.f.ParentID == mv.NewParent {
			continue
		}
		old := e.f.ParentID
		e.f.ParentID = mv.NewParent
		e.dirty = true
		add(Change{Kind: FolderMoved, Folder: mv.ID, OldFolder: old})
	}

	if len(b.Items) > 0 {
		m.pending = make(map[string]bool, len(b.Items))
		m.pendingItems = make([]pendingItem, 0, len(b.Items))
		m.itemPos = make(map[ItemID]int, len(b.Items))
	}
	for i := range b.Items {
		it := &b.Items[i]
		e, err := m.folder(it.FolderID)
		if err != nil {
			return fail("Items", i, string(it.ID), err)
		}
		if e == nil {
			return fail("Items", i, string(it.ID), fmt.Errorf("%w: %q", ErrUnknownFolder, it.FolderID))
		}
		kind, oldFolder := ItemCreated, FolderID("")
		if v := m.itemRecord(it.ID); v != nil {
			h, ok := decodeItemHead(v)
			if !ok {
				return fail("Items", i, string(it.ID), m.corrupt("items", []byte(it.ID), "undecodable item"))
			}
			if err := m.unlinkItem(it.ID, h); err != nil {
				return fail("Items", i, string(it.ID), err)
			}
			kind = ItemUpdated
			if h.fnum != e.num {
				old, err := m.folderByNum(h.fnum)
				if err != nil {
					return fail("Items", i, string(it.ID), err)
				}
				kind, oldFolder = ItemMoved, old.f.ID
			}
		}
		k := m.a.end(append(m.a.begin(len(it.ID)), it.ID...))
		v := m.a.end(appendItem(m.a.begin(itemSizeHint(it)), it, e.num))
		m.itemPos[it.ID] = len(m.pendingItems)
		m.pendingItems = append(m.pendingItems, pendingItem{k, v})
		m.pending[string(appendIndexKey(nil, e.num, it.Received, it.ID))] = !it.IsRead
		e.f.LocalItems++
		if !it.IsRead {
			e.f.LocalUnread++
		}
		e.dirty = true
		add(Change{Kind: kind, Folder: it.FolderID, Item: it.ID, OldFolder: oldFolder})
	}
	if err := m.putPending(); err != nil {
		return fail("Items", 0, "", err)
	}

	for i, mm := range b.MIME {
		k := []byte(mm.ID)
		v := m.items.Get(k)
		if v == nil {
			return fail("MIME", i, string(mm.ID), ErrUnknownItem)
		}
		h, ok := decodeItemHead(v)
		if !ok {
			return fail("MIME", i, string(mm.ID), m.corrupt("items", k, "undecodable item"))
		}
		e, err := m.folderByNum(h.fnum)
		if err != nil {
			return fail("MIME", i, string(mm.ID), err)
		}
		if err := m.deleteMIME(k); err != nil {
			return fail("MIME", i, string(mm.ID), err)
		}
		data := mm.Data
		if data == nil {
			data = []byte{}
		}
		if err := m.mime.Put(k, data); err != nil {
			return fail("MIME", i, string(mm.ID), err)
		}
		m.state.MIMEItems++
		m.state.MIMEBytes += int64(len(data))
		m.stateDirty = true
		add(Change{Kind: ItemMIMEStored, Folder: e.f.ID, Item: mm.ID})
	}

	for i, rf := range b.ReadFlags {
		k := []byte(rf.ID)
		v := m.items.Get(k)
		if v == nil {
			continue
		}
		h, ok := decodeItemHead(v)
		if !ok {
			return fail("ReadFlags", i, string(rf.ID), m.corrupt("items", k, "undecodable item"))
		}
		sameRead := (h.flags&flagRead != 0) == rf.IsRead
		var nv []byte
		if rf.ChangeKey != "" {
			it, fnum, ok := decodeItem(rf.ID, v)
			if !ok {
				return fail("ReadFlags", i, string(rf.ID), m.corrupt("items", k, "undecodable item"))
			}
			if sameRead && it.ChangeKey == rf.ChangeKey {
				continue
			}
			it.ChangeKey, it.IsRead = rf.ChangeKey, rf.IsRead
			nv = m.a.end(appendItem(m.a.begin(itemSizeHint(&it)), &it, fnum))
		} else if sameRead {
			continue
		}
		e, err := m.folderByNum(h.fnum)
		if err != nil {
			return fail("ReadFlags", i, string(rf.ID), err)
		}
		if sameRead { // only the change key moved
			if err := m.items.Put(k, nv); err != nil {
				return fail("ReadFlags", i, string(rf.ID), err)
			}
			add(Change{Kind: ItemUpdated, Folder: e.f.ID, Item: rf.ID})
			continue
		}
		if nv == nil {
			nv = m.a.end(append(m.a.begin(len(v)), v...))
		}
		key := m.a.end(appendIndexKey(m.a.begin(folderKeyLen+timeKeyLen+len(k)), h.fnum, h.received, rf.ID))
		if rf.IsRead {
			nv[1] |= flagRead
			err = m.unread.Delete(key)
			e.f.LocalUnread--
		} else {
			nv[1] &^= flagRead
			err = m.unread.Put(key, nil)
			e.f.LocalUnread++
		}
		if err == nil {
			err = m.items.Put(k, nv)
		}
		if err != nil {
			return fail("ReadFlags", i, string(rf.ID), err)
		}
		e.dirty = true
		add(Change{Kind: ItemReadChanged, Folder: e.f.ID, Item: rf.ID})
	}

	for i, id := range b.ItemDeletes {
		k := []byte(id)
		v := m.items.Get(k)
		if v == nil {
			continue
		}
		h, ok := decodeItemHead(v)
		if !ok {
			return fail("ItemDeletes", i, string(id), m.corrupt("items", k, "undecodable item"))
		}
		e, err := m.folderByNum(h.fnum)
		if err != nil {
			return fail("ItemDeletes", i, string(id), err)
		}
		if _, err := m.deleteItem(id); err != nil {
			return fail("ItemDeletes", i, string(id), err)
		}
		add(Change{Kind: ItemDeleted, Folder: e.f.ID, Item: id})
	}

	for i := range b.Checkpoints {
		c := &b.Checkpoints[i]
		e, err := m.folder(c.ID)
		if err != nil {
			return fail("Checkpoints", i, string(c.ID), err)
		}
		if e == nil {
			return fail("Checkpoints", i, string(c.ID), ErrUnknownFolder)
		}
		e.f.FolderSync = c.FolderSync
		e.dirty = true
		add(Change{Kind: FolderSynced, Folder: c.ID})
	}

	for i, id := range b.FolderDeletes {
		e, err := m.folder(id)
		if err != nil {
			return fail("FolderDeletes", i, string(id), err)
		}
		if e == nil {
			continue
		}
		gone, err := m.deleteFolderTree(id)
		if err != nil {
			return fail("FolderDeletes", i, string(id), err)
		}
		for _, g := range gone {
			add(Change{Kind: FolderDeleted, Folder: g})
		}
	}

	if b.Hierarchy != nil || b.Subscription != nil {
		if b.Hierarchy != nil {
			m.state.HierarchySyncState = b.Hierarchy.SyncState
		}
		if b.Subscription != nil {
			m.state.Subscription = *b.Subscription
		}
		m.stateDirty = true
		add(Change{Kind: MailboxStateChanged})
	}
	if b.Seq != 0 {
		m.state.Seq = b.Seq
		m.stateDirty = true
	}
	if err := m.flush(); err != nil {
		return fail("Batch", 0, "", err)
	}
	return nil
}

func oldIf(cond bool, f FolderID) FolderID {
	if cond {
		return f
	}
	return ""
}

// deleteFolderTree deletes folder id, its subfolders, and all their items
// and MIME. It returns the deleted folders, the given one first.
func (m *mbox) deleteFolderTree(id FolderID) ([]FolderID, error) {
	// Parent links of every folder, as this batch sees them.
	children := map[FolderID][]FolderID{}
	err := m.folders.ForEach(func(k, v []byte) error {
		fid := FolderID(k)
		if _, ok := m.cache[fid]; ok {
			return nil
		}
		f, _, ok := decodeFolder(fid, v)
		if !ok {
			return m.corrupt("folders", k, "undecodable folder")
		}
		children[f.ParentID] = append(children[f.ParentID], fid)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for fid, e := range m.cache {
		if !e.deleted {
			children[e.f.ParentID] = append(children[e.f.ParentID], fid)
		}
	}
	tree := []FolderID{id}
	seen := map[FolderID]bool{id: true}
	for i := 0; i < len(tree); i++ {
		kids := children[tree[i]]
		slices.Sort(kids)
		for _, k := range kids {
			if seen[k] {
				return nil, m.corrupt("folders", []byte(k), "folder cycle")
			}
			seen[k] = true
			tree = append(tree, k)
		}
	}
	for _, fid := range tree {
		fe, err := m.folder(fid)
		if err != nil || fe == nil {
			if err == nil {
				err = m.corrupt("folders", []byte(fid), "folder vanished during delete")
			}
			return nil, err
		}
		prefix := appendFolderKey(nil, fe.num)
		var ids []ItemID
		c := m.index.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			_, _, id, ok := parseIndexKey(k)
			if !ok {
				return nil, m.corrupt("index", k, "malformed index key")
			}
			ids = append(ids, ItemID(id))
		}
		for _, iid := range ids {
			ok, err := m.deleteItem(iid)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, m.corrupt("index", []byte(iid), "index entry without item")
			}
		}
		e, err := m.folder(fid)
		if err != nil {
			return nil, err
		}
		if e == nil || e.f.LocalItems != 0 || e.f.LocalUnread != 0 {
			return nil, m.corrupt("folders", []byte(fid), "counters disagree with the index")
		}
		if err := m.folders.Delete([]byte(fid)); err != nil {
			return nil, err
		}
		if err := m.fnums.Delete(prefix); err != nil {
			return nil, err
		}
		delete(m.byNum, fe.num)
		e.deleted, e.dirty = true, false
	}
	return tree, nil
}

// removeMailbox deletes a whole mailbox.
func removeMailbox(tx *bolt.Tx, mb Mailbox, changes *[]Change) error {
	root := tx.Bucket(bucketMailboxes)
	if root == nil {
		return &CorruptError{Mailbox: mb, Bucket: "mailboxes", Reason: "missing"}
	}
	if root.Bucket([]byte(mb)) == nil {
		return nil
	}
	if err := root.DeleteBucket([]byte(mb)); err != nil {
		return err
	}
	*changes = append(*changes, Change{Kind: MailboxRemoved, Mailbox: mb})
	return nil
}
