package notify

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"time"
)

// watermarkLen is the decoded length of a watermark: a version byte, the
// 32-bit database token and the 64-bit sequence number of the last event
// the watermark covers.
const watermarkLen = 1 + 4 + 8

const watermarkVersion = 1

// dbToken derives the token a database stamps into its watermarks.
func dbToken(db string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(db))
	return h.Sum32()
}

func encodeWatermark(token uint32, seq uint64) string {
	var b [watermarkLen]byte
	b[0] = watermarkVersion
	binary.BigEndian.PutUint32(b[1:5], token)
	binary.BigEndian.PutUint64(b[5:], seq)
	return base64.StdEncoding.EncodeToString(b[:])
}

func decodeWatermark(s string) (token uint32, seq uint64, ok bool) {
	if len(s) > 64 {
		return 0, 0, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != watermarkLen || b[0] != watermarkVersion {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b[1:5]), binary.BigEndian.Uint64(b[5:]), true
}

// logEntry is one event in a database's event table.
type logEntry struct {
	seq     uint64
	mailbox string
	ev      Event
}

// eventLog is the event table of one mailbox database: every event of every
// mailbox in it, in order, with a sequence number. Sequence 0 is the
// position before the first event ever raised.
type eventLog struct {
	name    string
	token   uint32
	entries []logEntry // entries[i].seq == first+i
	first   uint64     // seq of entries[0] (== last+1 when empty)
	last    uint64     // seq of the newest event ever appended
}

func newEventLog(name string) *eventLog {
	return &eventLog{name: name, token: dbToken(name), first: 1}
}

// head returns the watermark of the newest event (the position a new
// subscription without a watermark starts from).
func (l *eventLog) head() string { return encodeWatermark(l.token, l.last) }

// stamp returns an entry's event with its watermark (computed on demand:
// most events are never delivered to anyone).
func (l *eventLog) stamp(e *logEntry) StampedEvent {
	return StampedEvent{Event: e.ev, Watermark: encodeWatermark(l.token, e.seq)}
}

func (l *eventLog) append(mailbox string, ev Event) *logEntry {
	l.last++
	l.entries = append(l.entries, logEntry{seq: l.last, mailbox: mailbox, ev: ev})
	return &l.entries[len(l.entries)-1]
}

// trim drops events older than now-retention and keeps at most maxEvents.
func (l *eventLog) trim(now time.Time, retention time.Duration, maxEvents int) {
	drop := 0
	if maxEvents > 0 && len(l.entries) > maxEvents {
		drop = len(l.entries) - maxEvents
	}
	if retention > 0 {
		cutoff := now.Add(-retention)
		for drop < len(l.entries) && l.entries[drop].ev.Time.Before(cutoff) {
			drop++
		}
	}
	l.dropFront(drop)
}

func (l *eventLog) dropFront(n int) {
	if n <= 0 {
		return
	}
	l.first += uint64(n)
	rest := l.entries[n:]
	if cap(l.entries) > 64 && len(rest) < cap(l.entries)/4 {
		l.entries = append(make([]logEntry, 0, 2*len(rest)+16), rest...)
	} else {
		l.entries = rest
	}
}

// check validates a watermark against this log and returns its sequence
// number. A watermark is valid when it was issued by this database and the
// events after it are all still in the log.
func (l *eventLog) check(wm string) (uint64, error) {
	token, seq, ok := decodeWatermark(wm)
	if !ok || token != l.token || seq > l.last || seq+1 < l.first {
		return 0, ErrInvalidWatermark
	}
	return seq, nil
}
