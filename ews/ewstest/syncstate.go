package ewstest

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"time"
)

// A sync state is base64 of a versioned, checksummed binary record:
//
//	version(1) kind(1) stateKey(8) len(folderId) folderId
//	cursor nseg { hi span cn time }... crc32(4)
//
// with uvarint numbers. For SyncFolderItems each segment says "for the
// folder entries whose arrival change number lies in [hi-span, hi], the
// client has seen every change up to change number cn (served at time)".
// cursor > 0 means a newest-first pass over the folder is in progress and
// entries below cursor are still to be visited. The hierarchy state has
// a single segment covering every folder. Anything that does not decode,
// fails the checksum, names another folder or mailbox, or is of the wrong
// kind is ErrInvalidSyncState.

const (
	syncStateVersion      = 1
	syncKindItems    byte = 1
	syncKindFolders  byte = 2
	maxSegments           = 256
)

type segment struct {
	lo, hi, cn uint64
	time       int64 // unix seconds when the segment was served
}

type syncState struct {
	kind     byte
	mbKey    uint64
	folderID string
	cursor   uint64
	segs     []segment // sorted by hi descending, non-overlapping
}

func (s *syncState) encode() string {
	b := make([]byte, 0, 32+len(s.folderID)+len(s.segs)*16)
	b = append(b, syncStateVersion, s.kind)
	b = binary.LittleEndian.AppendUint64(b, s.mbKey)
	b = binary.AppendUvarint(b, uint64(len(s.folderID)))
	b = append(b, s.folderID...)
	b = binary.AppendUvarint(b, s.cursor)
	b = binary.AppendUvarint(b, uint64(len(s.segs)))
	for _, g := range s.segs {
		b = binary.AppendUvarint(b, g.hi)
		b = binary.AppendUvarint(b, g.hi-g.lo)
		b = binary.AppendUvarint(b, g.cn)
		b = binary.AppendVarint(b, g.time)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(b)
}

func decodeSyncState(s string) (*syncState, error) {
	bad := func(why string) (*syncState, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSyncState, why)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64")
	}
	if len(b) < 2+8+4 {
		return bad("too short")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return bad("checksum mismatch")
	}
	if body[0] != syncStateVersion {
		return bad("unknown version")
	}
	st := &syncState{kind: body[1], mbKey: binary.LittleEndian.Uint64(body[2:10])}
	r := body[10:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	n, ok := next()
	if !ok || n > uint64(len(r)) {
		return bad("bad folder id")
	}
	st.folderID = string(r[:n])
	r = r[n:]
	if st.cursor, ok = next(); !ok {
		return bad("bad cursor")
	}
	nseg, ok := next()
	if !ok || nseg > maxSegments {
		return bad("bad segment count")
	}
	var prevLo uint64
	for i := uint64(0); i < nseg; i++ {
		hi, ok1 := next()
		span, ok2 := next()
		cn, ok3 := next()
		t, m := binary.Varint(r)
		if !ok1 || !ok2 || !ok3 || m <= 0 || span > hi {
			return bad("bad segment")
		}
		r = r[m:]
		g := segment{lo: hi - span, hi: hi, cn: cn, time: t}
		if i > 0 && g.hi >= prevLo {
			return bad("overlapping segments")
		}
		prevLo = g.lo
		st.segs = append(st.segs, g)
	}
	if len(r) != 0 {
		return bad("trailing bytes")
	}
	return st, nil
}

// oldest returns the time of the oldest segment, and false when the state
// has none (a first sync, which never expires).
func (s *syncState) oldest() (time.Time, bool) {
	if len(s.segs) == 0 {
		return time.Time{}, false
	}
	t := s.segs[0].time
	for _, g := range s.segs[1:] {
		t = min(t, g.time)
	}
	return time.Unix(t, 0), true
}

func (s *syncState) minCN() uint64 {
	if len(s.segs) == 0 {
		return 0
	}
	c := s.segs[0].cn
	for _, g := range s.segs[1:] {
		c = min(c, g.cn)
	}
	return c
}

// cover records that keys [lo, hi] were served at cn/time: it replaces
// whatever the old segments said about those keys, merges equal
// neighbours and keeps the list bounded (merging takes the older of two
// baselines, which can repeat a change but never lose one).
func (s *syncState) cover(lo, hi, cn uint64, t int64) {
	var out []segment
	nw := segment{lo: lo, hi: hi, cn: cn, time: t}
	placed := false
	for _, g := range s.segs {
		if g.lo > hi { // entirely above
			out = append(out, g)
			continue
		}
		if !placed {
			out = append(out, nw)
			placed = true
		}
		if g.hi < lo { // entirely below
			out = append(out, g)
			continue
		}
		// Overlap: keep the parts outside [lo, hi].
		if g.hi > hi {
			up := g
			up.lo = hi + 1
			out = slices.Insert(out, len(out)-1, up)
		}
		if g.lo < lo {
			dn := g
			dn.hi = lo - 1
			out = append(out, dn)
		}
	}
	if !placed {
		out = append(out, nw)
	}
	// Merge adjacent segments with equal baselines.
	merged := out[:0]
	for _, g := range out {
		if k := len(merged); k > 0 && merged[k-1].lo == g.hi+1 && merged[k-1].cn == g.cn {
			merged[k-1].lo = g.lo
			merged[k-1].time = min(merged[k-1].time, g.time)
			continue
		}
		merged = append(merged, g)
	}
	for len(merged) > maxSegments {
		k := mergeCandidate(merged, lo)
		if k < 0 {
			break // cannot happen: a pass leaves at most one gap
		}
		a, b := merged[k], merged[k+1]
		merged[k] = segment{lo: b.lo, hi: a.hi, cn: min(a.cn, b.cn), time: min(a.time, b.time)}
		merged = slices.Delete(merged, k+1, k+2)
	}
	s.segs = merged
}

// mergeCandidate picks the pair (k, k+1) of segments to merge when a
// state has too many: adjacent ones only (a gap holds keys unknown to the
// client, whose items are Creates, and a merged range would claim them
// known), and never one of the current pass (keys >= passLo) with one of
// the previous pass: the merged baseline is the older one, and applied to
// the current pass's keys it would repeat every change of the previous
// pass. Segments below the pass are preferred (the pass replaces them
// anyway), lowest first; then the current pass's lowest pair, whose older
// baseline repeats only the changes made while one page was served.
func mergeCandidate(segs []segment, passLo uint64) int {
	best := -1
	for k := len(segs) - 2; k >= 0; k-- {
		a, b := segs[k], segs[k+1]
		if a.lo != b.hi+1 {
			continue
		}
		switch {
		case a.hi < passLo: // both below the pass
			return k
		case b.lo >= passLo: // both in the pass
			if best < 0 {
				best = k
			}
		}
	}
	return best
}

// baseline returns the change number up to which the client has seen the
// entry with key k, and whether the client knows the key range at all.
// segs are walked with the hint index i (keys are visited descending).
func (s *syncState) baseline(k uint64, i *int) (uint64, bool) {
	for *i < len(s.segs) && s.segs[*i].lo > k {
		*i++
	}
	if *i < len(s.segs) && s.segs[*i].hi >= k {
		return s.segs[*i].cn, true
	}
	return 0, false
}
