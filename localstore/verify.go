package localstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
)

// bbolt trusts its file: a page id out of range, an element pointing past
// its page or a cycle of pages makes it read outside the mapping or recurse
// without end, and with NoFreelistSync it does so in a goroutine of its own
// while Open rebuilds the freelist, where no recover can catch it. Open
// therefore checks the page structure itself before bbolt sees the file,
// with bounds-checked reads and an explicit stack: every page reachable
// from the meta page bbolt will use is in range, referenced once, of the
// right type, with its elements inside it and its keys in order.
//
// The layout is bbolt's (go.etcd.io/bbolt/internal/common), in the
// machine's byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elemSize         = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize         = 64 // magic, version, pageSize, flags u32; root, seq, freelist, pgid, txid, checksum u64
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	minPageSize      = 1024
	maxPageSize      = 16 << 20 // the largest bbolt looks for
)

var ne = binary.NativeEndian

// boltMeta is a meta page as read from the file.
type boltMeta struct {
	magic, version, pageSize uint32
	root, freelist, hwm      uint64 // hwm: pages in use, the high water mark
	txid                     uint64
	valid                    bool // magic, version and checksum all right
}

// parseMeta reads the meta page at the start of p (at least
// pageHeaderSize+metaSize bytes).
func parseMeta(p []byte) boltMeta {
	b := p[pageHeaderSize : pageHeaderSize+metaSize]
	m := boltMeta{
		magic:    ne.Uint32(b[0:]),
		version:  ne.Uint32(b[4:]),
		pageSize: ne.Uint32(b[8:]),
		root:     ne.Uint64(b[16:]),
		freelist: ne.Uint64(b[32:]),
		hwm:      ne.Uint64(b[40:]),
		txid:     ne.Uint64(b[48:]),
	}
	h := fnv.New64a()
	h.Write(b[:56])
	m.valid = m.magic == boltMagic && m.version == boltVersion && h.Sum64() == ne.Uint64(b[56:])
	return m
}

// verifyFile checks the bbolt page structure of data, a whole store file.
// With atTxid 0 it checks the tree of the meta page bbolt's Open would use
// (the valid one with the higher txid); otherwise that of the valid meta
// page with txid atTxid, or failing that the oldest newer one (Check runs
// in a read transaction while the writer may commit). An empty file is a
// new store. It returns nil, an error matching ErrNotStore (no bbolt meta
// page at all) or a *CorruptError.
func verifyFile(data []byte, atTxid uint64) error {
	size := uint64(len(data))
	if size == 0 {
		return nil
	}
	// Find the page size the way bbolt does: from the first meta page, or
	// else from a second one at 1 KiB, 2 KiB ... 16 MiB.
	var ps uint64
	magic := false
	if size >= 4096 {
		m := parseMeta(data)
		magic = m.magic == boltMagic
		if m.valid {
			ps = uint64(m.pageSize)
		}
	}
	for i := 0; ps == 0 && i <= 14; i++ {
		pos := uint64(1024) << i
		if pos+1024 >= size {
			break
		}
		m := parseMeta(data[pos:])
		magic = magic || m.magic == boltMagic
		if m.valid {
			ps = uint64(m.pageSize)
		}
	}
	if ps == 0 {
		if !magic && (size < pageHeaderSize+metaSize || parseMeta(data).magic != boltMagic) {
			return fmt.Errorf("%w: no bbolt meta page in %d bytes", ErrNotStore, size)
		}
		return fileCorrupt(0, "no valid meta page")
	}
	if ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0 {
		return fileCorrupt(0, fmt.Sprintf("page size %d", ps))
	}
	if size < 2*ps {
		return fileCorrupt(0, fmt.Sprintf("file of %d bytes is shorter than its two meta pages of %d", size, ps))
	}
	m, err := pickMeta(parseMeta(data), parseMeta(data[ps:]), atTxid)
	if err != nil {
		return err
	}
	switch {
	case uint64(m.pageSize) != ps:
		return fileCorrupt(0, fmt.Sprintf("meta page of txid %d has page size %d, the file %d", m.txid, m.pageSize, ps))
	case m.hwm > size/ps:
		return fileCorrupt(0, fmt.Sprintf("file of %d bytes holds %d pages, its meta page (txid %d) says %d: truncated?",
			size, size/ps, m.txid, m.hwm))
	case m.root < 2 || m.root >= m.hwm:
		return fileCorrupt(0, fmt.Sprintf("root page %d outside [2, %d)", m.root, m.hwm))
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		return fileCorrupt(0, fmt.Sprintf("freelist page %d outside [2, %d)", m.freelist, m.hwm))
	}
	v := &verifier{data: data, ps: ps, hwm: m.hwm, seen: newBitmap(m.hwm)}
	v.seen.set(0)
	v.seen.set(1)
	var free []byte // the freelist page's ids, checked once the tree is known
	if m.freelist != noFreelist {
		if free, err = v.freelist(m.freelist); err != nil {
			return err
		}
	}
	v.stack = append(v.stack, pageRef{id: m.root})
	for len(v.stack) > 0 {
		r := v.stack[len(v.stack)-1]
		v.stack = v.stack[:len(v.stack)-1]
		if err := v.page(r); err != nil {
			return err
		}
	}
	freed := newBitmap(m.hwm)
	for ; len(free) > 0; free = free[8:] {
		id := ne.Uint64(free)
		switch {
		case id < 2 || id >= m.hwm:
			return fileCorrupt(m.freelist, fmt.Sprintf("free page %d outside [2, %d)", id, m.hwm))
		case v.seen.has(id):
			return fileCorrupt(m.freelist, fmt.Sprintf("page %d is both free and in use", id))
		case freed.has(id):
			return fileCorrupt(m.freelist, fmt.Sprintf("page %d freed twice", id))
		}
		freed.set(id)
	}
	return nil
}

// pickMeta chooses the meta page as described on verifyFile.
func pickMeta(m0, m1 boltMeta, atTxid uint64) (boltMeta, error) {
	a, b := m0, m1
	if m1.txid > m0.txid {
		a, b = m1, m0
	}
	if atTxid == 0 {
		switch {
		case a.valid:
			return a, nil
		case b.valid:
			return b, nil
		}
		return boltMeta{}, fileCorrupt(0, "both meta pages are invalid")
	}
	switch {
	case b.valid && b.txid >= atTxid:
		return b, nil
	case a.valid && a.txid >= atTxid:
		return a, nil
	}
	return boltMeta{}, fileCorrupt(0, fmt.Sprintf("no valid meta page for txid %d", atTxid))
}

// pageRef is a page still to check: a page of the file, or (id 0) a bucket
// stored inline in a value of page parent. Its keys must lie in [lo, hi)
// (nil: unbounded). depth counts the pages and buckets above it.
type pageRef struct {
	id, parent uint64
	inline     []byte
	lo, hi     []byte
	depth      int
}

// maxDepth bounds how deep pages and nested buckets may go: bbolt walks
// them recursively, and a real file is a few levels deep (a B+tree of a
// billion keys has fewer than 40).
const maxDepth = 256

type verifier struct {
	data    []byte
	ps, hwm uint64
	seen    bitmap // pages referenced so far
	stack   []pageRef
}

// claim marks pages id..id+overflow as referenced and returns their bytes.
func (v *verifier) claim(id uint64, flags uint16) ([]byte, error) {
	if id < 2 || id >= v.hwm {
		return nil, fileCorrupt(id, fmt.Sprintf("page id outside [2, %d)", v.hwm))
	}
	off := id * v.ps
	hdr := v.data[off : off+pageHeaderSize]
	if got := ne.Uint64(hdr); got != id {
		return nil, fileCorrupt(id, fmt.Sprintf("page says it is page %d", got))
	}
	if f := ne.Uint16(hdr[8:]); f != flags && !(flags == 0 && (f == branchPageFlag || f == leafPageFlag)) {
		return nil, fileCorrupt(id, fmt.Sprintf("page type %#x", f))
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if overflow >= v.hwm-id {
		return nil, fileCorrupt(id, fmt.Sprintf("%d overflow pages run past the last page %d", overflow, v.hwm-1))
	}
	for i := id; i <= id+overflow; i++ {
		if v.seen.has(i) {
			return nil, fileCorrupt(i, "page referenced twice")
		}
		v.seen.set(i)
	}
	return v.data[off : off+(overflow+1)*v.ps], nil
}

// freelist checks the freelist page and returns its page ids.
func (v *verifier) freelist(id uint64) ([]byte, error) {
	p, err := v.claim(id, freelistPageFlag)
	if err != nil {
		return nil, err
	}
	start, n := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if n == 0xFFFF { // the count overflowed into the first element
		n, start = ne.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(p))-start)/8 {
		return nil, fileCorrupt(id, fmt.Sprintf("%d free ids do not fit in the page", n))
	}
	return p[start : start+n*8], nil
}

// page checks one branch or leaf page and queues its children.
func (v *verifier) page(r pageRef) error {
	p, at := r.inline, r.parent
	if r.id != 0 {
		var err error
		if p, err = v.claim(r.id, 0); err != nil {
			return err
		}
		at = r.id
	}
	if len(p) < pageHeaderSize {
		return fileCorrupt(at, "inline bucket shorter than a page header")
	}
	if r.depth > maxDepth {
		return fileCorrupt(at, fmt.Sprintf("pages and buckets nested more than %d deep", maxDepth))
	}
	flags, count := ne.Uint16(p[8:]), uint64(ne.Uint16(p[10:]))
	branch := flags == branchPageFlag
	switch {
	case !branch && flags != leafPageFlag:
		return fileCorrupt(at, fmt.Sprintf("inline bucket of page type %#x", flags))
	case branch && r.id == 0:
		return fileCorrupt(at, "inline bucket is a branch page")
	case branch && count == 0:
		return fileCorrupt(at, "branch page without elements")
	}
	end := pageHeaderSize + count*elemSize
	if end > uint64(len(p)) {
		return fileCorrupt(at, fmt.Sprintf("%d elements do not fit in the page", count))
	}
	first := len(v.stack)
	var prev []byte
	for i := range count {
		e := p[pageHeaderSize+i*elemSize:]
		var pos, ksize, vsize uint64
		if branch {
			pos, ksize = uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
		} else {
			pos, ksize, vsize = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		}
		// bbolt writes keys and values one after the other behind the
		// element table; anything else overlaps or points outside.
		kstart := pageHeaderSize + i*elemSize + pos
		kend := kstart + ksize
		vend := kend + vsize
		if kstart < end || vend > uint64(len(p)) {
			return fileCorrupt(at, fmt.Sprintf("element %d points outside its place", i))
		}
		end = vend
		key := p[kstart:kend]
		switch {
		case ksize == 0:
			return fileCorrupt(at, fmt.Sprintf("element %d has an empty key", i))
		case i == 0 && r.lo != nil && bytes.Compare(key, r.lo) < 0,
			i > 0 && bytes.Compare(prev, key) >= 0,
			r.hi != nil && bytes.Compare(key, r.hi) >= 0:
			return fileCorrupt(at, fmt.Sprintf("key %d out of order", i))
		}
		prev = key
		switch {
		case branch:
			if n := len(v.stack); n > first {
				v.stack[n-1].hi = key
			}
			v.stack = append(v.stack, pageRef{id: ne.Uint64(e[8:]), lo: key, hi: r.hi, depth: r.depth + 1})
		case ne.Uint32(e[0:])&bucketLeafFlag != 0:
			val := p[kend:vend]
			if len(val) < bucketHeaderSize {
				return fileCorrupt(at, fmt.Sprintf("bucket %d has a value of %d bytes", i, len(val)))
			}
			if root := ne.Uint64(val); root != 0 {
				v.stack = append(v.stack, pageRef{id: root, depth: r.depth + 1})
			} else {
				v.stack = append(v.stack, pageRef{parent: at, inline: val[bucketHeaderSize:], depth: r.depth + 1})
			}
		}
	}
	return nil
}

// bitmap is a set of page ids below a bound.
type bitmap []uint64

func newBitmap(n uint64) bitmap    { return make(bitmap, (n+63)/64) }
func (b bitmap) set(i uint64)      { b[i/64] |= 1 << (i % 64) }
func (b bitmap) has(i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }
func fileCorrupt(page uint64, reason string) error {
	return &CorruptError{Bucket: "file", Key: fmt.Sprintf("page %d", page), Reason: reason}
}

// verifyOpenFile maps f and checks it with verifyFile. A fault reading the
// mapping (the file shrank meanwhile) or a panic becomes a *CorruptError.
func verifyOpenFile(f *os.File, atTxid uint64) (err error) {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	data, unmap, err := mapFile(f, fi.Size())
	if err != nil {
		return err
	}
	defer unmap()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &CorruptError{Bucket: "file", Reason: fmt.Sprint("checking the file: ", p)}
		}
	}()
	return verifyFile(data, atTxid)
}
