package localstore

import (
	"encoding/binary"
	"time"
)

// Records are a format byte followed by fields in a fixed order. Integers are
// varints, strings are a uvarint length and the bytes, times are a varint of
// Unix seconds and a uvarint of nanoseconds. The item record puts the fields
// that the indexes derive from (flags, Received, folder number) first, so
// index maintenance decodes only a prefix.
//
// Folders are numbered per mailbox (schema 3): item records and index keys
// carry the 4-byte number instead of the ~120-byte Exchange FolderId.

const (
	itemFormat1   = 1 // schemas 1 and 2: folder id as a string
	itemFormat    = 2 // schema 3: folder number
	folderFormat1 = 1 // schema 1: no local counters
	folderFormat2 = 2 // schema 2: local counters
	folderFormat  = 3 // schema 3: folder number first
	stateFormat1  = 1 // schemas 1 and 2
	stateFormat   = 2 // schema 3: last assigned folder number
)

const (
	flagRead        = 1 << 0
	flagAttachments = 1 << 1
)

// zeroSec is time.Time{}.Unix(): times are written as Unix seconds, and the
// zero time must come back as the zero time.
const zeroSec = -62135596800

// arena hands out byte slices that stay valid until the transaction ends:
// bbolt keeps references to keys and values until commit, so a slice given to
// Put must never be written again. Use it as
//
//	b := a.begin(hint)
//	b = appendX(b, ...)
//	v := a.end(b)
type arena struct{ buf []byte }

// begin returns the arena's buffer to append at least hint more bytes to.
func (a *arena) begin(hint int) []byte {
	if cap(a.buf)-len(a.buf) < hint {
		a.buf = make([]byte, 0, max(64<<10, hint))
	}
	return a.buf
}

// end claims what was appended to b since begin and returns it with its
// capacity clipped, so appending to the result cannot touch later slices.
func (a *arena) end(b []byte) []byte {
	start := len(a.buf)
	a.buf = b
	return b[start:len(b):len(b)]
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(binary.AppendVarint(b, zeroSec), 0)
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendAddr(b []byte, a Address) []byte {
	return appendString(appendString(b, a.Name), a.Email)
}

func appendAddrs(b []byte, as []Address) []byte {
	b = binary.AppendUvarint(b, uint64(len(as)))
	for _, a := range as {
		b = appendAddr(b, a)
	}
	return b
}

func itemSizeHint(it *Item) int {
	n := 64 + len(it.FolderID) + len(it.ChangeKey) + len(it.ItemClass) + len(it.Subject) +
		len(it.From.Name) + len(it.From.Email) + len(it.InternetMessageID) + len(it.ConversationID)
	for _, a := range it.To {
		n += 4 + len(a.Name) + len(a.Email)
	}
	for _, a := range it.Cc {
		n += 4 + len(a.Name) + len(a.Email)
	}
	for _, c := range it.Categories {
		n += 2 + len(c)
	}
	return n
}

func itemFlags(it *Item) byte {
	var f byte
	if it.IsRead {
		f |= flagRead
	}
	if it.HasAttachments {
		f |= flagAttachments
	}
	return f
}

// appendItem encodes it without its id (the id is the key) and with fnum,
// the number of its folder, in place of its FolderID.
func appendItem(b []byte, it *Item, fnum uint32) []byte {
	b = append(b, itemFormat, itemFlags(it))
	b = appendTime(b, it.Received)
	b = binary.AppendUvarint(b, uint64(fnum))
	b = appendItemTail(b, it)
	return b
}

func appendItemTail(b []byte, it *Item) []byte {
	b = append(b, byte(it.Importance))
	b = appendString(b, it.ChangeKey)
	b = appendString(b, it.ItemClass)
	b = appendString(b, it.Subject)
	b = appendAddr(b, it.From)
	b = appendAddrs(b, it.To)
	b = appendAddrs(b, it.Cc)
	b = appendTime(b, it.Sent)
	b = appendVarint(b, it.Size)
	b = binary.AppendUvarint(b, uint64(len(it.Categories)))
	for _, c := range it.Categories {
		b = appendString(b, c)
	}
	b = appendString(b, it.InternetMessageID)
	b = appendString(b, it.ConversationID)
	return b
}

// appendFolder encodes f (without its id, the key) with its number.
func appendFolder(b []byte, f *Folder, num uint32) []byte {
	b = append(b, folderFormat)
	b = binary.AppendUvarint(b, uint64(num))
	return appendFolderTail(b, f, true)
}

func appendFolderTail(b []byte, f *Folder, counters bool) []byte {
	b = appendString(b, f.ChangeKey)
	b = appendString(b, string(f.ParentID))
	b = appendString(b, f.DisplayName)
	b = appendString(b, f.FolderClass)
	b = appendVarint(b, f.TotalCount)
	b = appendVarint(b, f.UnreadCount)
	b = appendVarint(b, f.ChildFolderCount)
	b = appendTime(b, f.LocalCommitTimeMax)
	b = appendVarint(b, f.DeletedCountTotal)
	b = appendString(b, f.SyncState)
	b = appendTime(b, f.LastSynced)
	if counters {
		b = appendVarint(b, f.LocalItems)
		b = appendVarint(b, f.LocalUnread)
	}
	return b
}

// stateRecord is the per-mailbox record: MailboxState plus MIME totals and
// the last folder number handed out.
type stateRecord struct {
	MailboxState
	MIMEItems  int64
	MIMEBytes  int64
	LastFolder uint32
}

func appendState(b []byte, s *stateRecord) []byte {
	b = append(b, stateFormat)
	b = binary.AppendUvarint(b, uint64(s.LastFolder))
	b = binary.AppendUvarint(b, s.Seq)
	b = appendString(b, s.HierarchySyncState)
	b = append(b, byte(s.Subscription.Kind))
	b = appendString(b, s.Subscription.ID)
	b = appendString(b, s.Subscription.Watermark)
	b = appendTime(b, s.Subscription.LastEvent)
	b = appendVarint(b, s.MIMEItems)
	b = appendVarint(b, s.MIMEBytes)
	if s.Subscription.CallbackDigest != "" {
		// Optional and last, so that records without it keep their bytes.
		b = appendString(b, s.Subscription.CallbackDigest)
	}
	return b
}

// decoder reads a record. Strings are cut from one string copy of the whole
// record, so a decoded record costs one allocation plus its slices. The
// first malformed field sets bad; later reads return zero values.
type decoder struct {
	s   string
	off int
	bad bool
}

func newDecoder(v []byte) decoder { return decoder{s: string(v)} }

func (d *decoder) byte1() byte {
	if d.bad || d.off >= len(d.s) {
		d.bad = true
		return 0
	}
	c := d.s[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.bad || d.off >= len(d.s) {
			d.bad = true
			return 0
		}
		c := d.s[d.off]
		d.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				d.bad = true
				return 0
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.bad = true
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) nonNeg() int64 {
	v := d.varint()
	if v < 0 {
		d.bad = true
		return 0
	}
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.s)-d.off) {
		d.bad = true
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.bad || nsec >= 1e9 {
		d.bad = true
		return time.Time{}
	}
	if sec == zeroSec && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// count reads a slice length, bounded by what the rest of the record could
// hold at min bytes per element.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.bad || n > uint64((len(d.s)-d.off)/min) {
		d.bad = true
		return 0
	}
	return int(n)
}

func (d *decoder) addr() Address { return Address{Name: d.str(), Email: d.str()} }

func (d *decoder) addrs() []Address {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	as := make([]Address, n)
	for i := range as {
		as[i] = d.addr()
	}
	return as
}

func (d *decoder) done() bool { return !d.bad && d.off == len(d.s) }

// itemHead is the part of an item record the indexes derive from.
type itemHead struct {
	flags    byte
	received time.Time
	fnum     uint32
}

// decodeItemHead decodes the index fields of an item record without copying
// the record.
func decodeItemHead(v []byte) (itemHead, bool) {
	if len(v) < 2 || v[0] != itemFormat {
		return itemHead{}, false
	}
	var h itemHead
	h.flags = v[1]
	off := 2
	sec, n := binary.Varint(v[off:])
	if n <= 0 {
		return itemHead{}, false
	}
	off += n
	nsec, n := binary.Uvarint(v[off:])
	if n <= 0 || nsec >= 1e9 {
		return itemHead{}, false
	}
	off += n
	if !(sec == zeroSec && nsec == 0) {
		h.received = time.Unix(sec, int64(nsec)).UTC()
	}
	fnum, n := binary.Uvarint(v[off:])
	if n <= 0 || fnum == 0 || fnum > maxFolderNum {
		return itemHead{}, false
	}
	h.fnum = uint32(fnum)
	return h, true
}

const maxFolderNum = 1<<32 - 1

// decodeItem decodes a schema-3 item record. The Item's FolderID is left
// empty: the caller maps fnum to it.
func decodeItem(id ItemID, v []byte) (it Item, fnum uint32, ok bool) {
	d := newDecoder(v)
	if d.byte1() != itemFormat {
		return Item{}, 0, false
	}
	flags := d.byte1()
	received := d.time()
	n := d.uvarint()
	if n == 0 || n > maxFolderNum {
		return Item{}, 0, false
	}
	it, ok = d.itemTail(id, flags, received)
	return it, uint32(n), ok
}

// decodeItemV1 decodes an item record of schemas 1 and 2, for migration.
func decodeItemV1(id ItemID, v []byte) (Item, bool) {
	d := newDecoder(v)
	if d.byte1() != itemFormat1 {
		return Item{}, false
	}
	flags := d.byte1()
	received := d.time()
	folder := FolderID(d.str())
	it, ok := d.itemTail(id, flags, received)
	it.FolderID = folder
	return it, ok && folder != ""
}

func (d *decoder) itemTail(id ItemID, flags byte, received time.Time) (Item, bool) {
	it := Item{ID: id, IsRead: flags&flagRead != 0, HasAttachments: flags&flagAttachments != 0, Received: received}
	it.Importance = Importance(d.byte1())
	it.ChangeKey = d.str()
	it.ItemClass = d.str()
	it.Subject = d.str()
	it.From = d.addr()
	it.To = d.addrs()
	it.Cc = d.addrs()
	it.Sent = d.time()
	it.Size = d.nonNeg()
	if n := d.count(1); n > 0 {
		it.Categories = make([]string, n)
		for i := range it.Categories {
			it.Categories[i] = d.str()
		}
	}
	it.InternetMessageID = d.str()
	it.ConversationID = d.str()
	if !d.done() || flags&^(flagRead|flagAttachments) != 0 || it.Importance > ImportanceHigh {
		return Item{}, false
	}
	return it, true
}

// decodeFolderNum reads only the number of a schema-3 folder record.
func decodeFolderNum(v []byte) (uint32, bool) {
	if len(v) < 2 || v[0] != folderFormat {
		return 0, false
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || n == 0 || n > maxFolderNum {
		return 0, false
	}
	return uint32(n), true
}

// decodeFolder decodes a folder record of any schema; num is 0 for the
// formats before folder numbers.
func decodeFolder(id FolderID, v []byte) (f Folder, num uint32, ok bool) {
	d := newDecoder(v)
	format := d.byte1()
	if format < folderFormat1 || format > folderFormat {
		return Folder{}, 0, false
	}
	if format >= folderFormat {
		n := d.uvarint()
		if n == 0 || n > maxFolderNum {
			return Folder{}, 0, false
		}
		num = uint32(n)
	}
	f.ID = id
	f.ChangeKey = d.str()
	f.ParentID = FolderID(d.str())
	f.DisplayName = d.str()
	f.FolderClass = d.str()
	f.TotalCount = d.nonNeg()
	f.UnreadCount = d.nonNeg()
	f.ChildFolderCount = d.nonNeg()
	f.LocalCommitTimeMax = d.time()
	f.DeletedCountTotal = d.nonNeg()
	f.SyncState = d.str()
	f.LastSynced = d.time()
	if format >= folderFormat2 {
		f.LocalItems = d.nonNeg()
		f.LocalUnread = d.nonNeg()
	}
	if !d.done() || f.LocalUnread > f.LocalItems {
		return Folder{}, 0, false
	}
	return f, num, true
}

// decodeState decodes a mailbox state record of any schema.
func decodeState(mb Mailbox, v []byte) (stateRecord, bool) {
	d := newDecoder(v)
	format := d.byte1()
	if format != stateFormat && format != stateFormat1 {
		return stateRecord{}, false
	}
	var s stateRecord
	s.Mailbox = mb
	if format == stateFormat {
		n := d.uvarint()
		if n > maxFolderNum {
			return stateRecord{}, false
		}
		s.LastFolder = uint32(n)
	}
	s.Seq = d.uvarint()
	s.HierarchySyncState = d.str()
	s.Subscription.Kind = SubscriptionKind(d.byte1())
	s.Subscription.ID = d.str()
	s.Subscription.Watermark = d.str()
	s.Subscription.LastEvent = d.time()
	s.MIMEItems = d.nonNeg()
	s.MIMEBytes = d.nonNeg()
	if format == stateFormat && !d.bad && !d.done() {
		s.Subscription.CallbackDigest = d.str()
	}
	if !d.done() || s.Subscription.Kind > Push {
		return stateRecord{}, false
	}
	return s, true
}

// Index keys: the folder number (4 bytes big endian), the inverted receive
// time (12 bytes), the item id. Ascending key order is newest first within a
// folder, ties by item id ascending.

const (
	folderKeyLen = 4
	timeKeyLen   = 12
)

func appendTimeKey(b []byte, t time.Time) []byte {
	var sec int64
	var nsec uint32
	if t.IsZero() {
		sec = zeroSec
	} else {
		sec, nsec = t.Unix(), uint32(t.Nanosecond())
	}
	b = binary.BigEndian.AppendUint64(b, ^(uint64(sec) ^ 1<<63))
	return binary.BigEndian.AppendUint32(b, ^nsec)
}

func appendFolderKey(b []byte, fnum uint32) []byte {
	return binary.BigEndian.AppendUint32(b, fnum)
}

func appendIndexKey(b []byte, fnum uint32, t time.Time, id ItemID) []byte {
	b = appendFolderKey(b, fnum)
	b = appendTimeKey(b, t)
	return append(b, id...)
}

// parseIndexKey splits an index key; ok is false for a malformed key.
func parseIndexKey(k []byte) (fnum uint32, timeKey []byte, id []byte, ok bool) {
	if len(k) < folderKeyLen+timeKeyLen+1 {
		return 0, nil, nil, false
	}
	return binary.BigEndian.Uint32(k), k[folderKeyLen : folderKeyLen+timeKeyLen], k[folderKeyLen+timeKeyLen:], true
}
