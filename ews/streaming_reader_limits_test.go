package ews

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// repeating yields s over and over, forever.
type repeating struct {
	s string
	i int
}

func (r *repeating) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.s[r.i:])
		n += k
		r.i = (r.i + k) % len(r.s)
	}
	return n, nil
}

// netChunks returns r in reads of at most 4 KiB, as a connection does.
func netChunks(r io.Reader) io.Reader { return io.LimitReader(&chunkedReader{r: r}, 1<<40) }

type chunkedReader struct{ r io.Reader }

func (c *chunkedReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), 4096)]) }

// allocatedBy returns the bytes allocated while f ran: an upper bound on
// the heap f can have held at any moment (what the garbage collector
// does meanwhile changes neither).
func allocatedBy(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// seFloodEnvelope is a notification envelope with flood written where an
// event would be.
func seFloodEnvelope(flood func(*bytes.Buffer)) []byte {
	var b bytes.Buffer
	b.WriteString(seHead + `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications>` +
		`<m:Notification><t:SubscriptionId>S1</t:SubscriptionId>`)
	flood(&b)
	b.WriteString(seEvent("A") + `</m:Notification></m:Notifications></m:GetStreamingEventsResponseMessage>` + seTail)
	return b.Bytes()
}

// ntfTreeBound is what the envelope limits let a tree of many small
// elements cost, counting the decoder's garbage (about 400 bytes per
// element, 200,000 elements): a small multiple of the 32 MiB byte budget.
const ntfTreeBound = 4 * ntfMaxMessageBytes

// TestStreamReader_FloodsBounded: the floods of issue 13 inside one
// streaming envelope (40 MiB of attributes took 454 MiB; here 8 MiB, read
// from the connection in 4 KiB pieces) fail with ErrMalformedNotification
// and the codec's typed error while the envelope is read: a flood on one
// element or one branch having allocated next to nothing, a flood of
// small elements no more than the envelope's tag limit allows. The next
// envelope is never read.
func TestStreamReader_FloodsBounded(t *testing.T) {
	const size = 8 << 20
	attrs := seFloodEnvelope(func(b *bytes.Buffer) {
		b.WriteString("<t:NewMailEvent ")
		for i := 0; b.Len() < size; i++ {
			b.WriteString("a" + strings.Repeat("b", i%9) + `="" `)
		}
		b.WriteString("/>")
	})
	xmlns := seFloodEnvelope(func(b *bytes.Buffer) {
		b.WriteString("<t:NewMailEvent ")
		for i := 0; b.Len() < size; i++ {
			b.WriteString("xmlns:p" + strings.Repeat("q", i%9) + `="urn:x" `)
		}
		b.WriteString("/>")
	})
	nestedNS := seFloodEnvelope(func(b *bytes.Buffer) {
		b.WriteString(strings.Repeat(`<t:x xmlns:p="urn:x" xmlns:q="urn:y">`, 35) + strings.Repeat(`</t:x>`, 35))
	})
	deep := seFloodEnvelope(func(b *bytes.Buffer) {
		for b.Len() < size {
			b.WriteString("<t:x>")
		}
	})
	spread := seFloodEnvelope(func(b *bytes.Buffer) { // many elements, a few attributes each
		for b.Len() < size {
			b.WriteString(`<t:x a="" b="" c="" d="" e="" f=""/>`)
		}
	})
	empties := seFloodEnvelope(func(b *bytes.Buffer) {
		for b.Len() < size {
			b.WriteString(`<t:x/>`)
		}
	})
	cases := []struct {
		name  string
		body  []byte
		want  error
		bound uint64
	}{
		{"8 MiB of attributes on one element", attrs, ewsxml.ErrTooManyAttributes, 256 << 10},
		{"8 MiB of xmlns on one element", xmlns, ewsxml.ErrTooManyNamespaces, 256 << 10},
		{"xmlns on 35 nested elements", nestedNS, ewsxml.ErrTooManyNamespaces, 256 << 10},
		{"8 MiB of nesting", deep, ewsxml.ErrTooDeep, 256 << 10},
		{"8 MiB of elements with attributes", spread, ewsxml.ErrTooManyAttributes, ntfTreeBound},
		{"8 MiB of empty elements", empties, ewsxml.ErrTooManyTags, ntfTreeBound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream := append(c.body, seNotify("S2", "B")...)
			var err error
			n := allocatedBy(func() {
				_, err = newStreamReader(netChunks(bytes.NewReader(stream))).Next()
			})
			if !errors.Is(err, ErrMalformedNotification) || !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if n > c.bound {
				t.Errorf("%d bytes allocated for a %d-byte envelope, bound %d", n, len(c.body), c.bound)
			}
			t.Logf("%d bytes allocated for a %d-byte envelope", n, len(c.body))
		})
	}
}

// TestStreamReader_EnvelopeNeverEnds: a streaming response that never
// ends its envelope, in every shape (text, one attribute value, sibling
// elements, nesting, a comment, whitespace before the envelope), fails
// with a typed error in memory bounded by the envelope's budget: the
// size budget (ErrResponseTooLarge) or the limit that comes first.
func TestStreamReader_EnvelopeNeverEnds(t *testing.T) {
	const budget = 1 << 20 // the default is 32 MiB; a smaller one keeps the test fast
	open := seHead + `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>`
	cases := []struct {
		name         string
		prefix, loop string
		want         error
		bound        uint64
	}{
		{"text", open, "a", ErrResponseTooLarge, 8 * budget},
		{"attribute value", open + `<t:x a="`, "v", ErrResponseTooLarge, 8 * budget},
		// Many small elements cost more than their bytes; the tag limit bounds them.
		{"sibling elements", open + `</m:ResponseCode>`, `<t:x a="1"/>`, ErrResponseTooLarge, ntfTreeBound},
		{"nesting", open, `<t:x>`, ewsxml.ErrTooDeep, 8 * budget},
		{"comment", open + `<!--`, "x", ErrResponseTooLarge, 8 * budget},
		{"whitespace before the envelope", "", "\r\n", ErrResponseTooLarge, 8 * budget},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sr := newStreamReader(netChunks(io.MultiReader(strings.NewReader(c.prefix), &repeating{s: c.loop})))
			sr.max = budget
			var err error
			n := allocatedBy(func() { _, err = sr.Next() })
			if !errors.Is(err, ErrMalformedNotification) || !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if n > c.bound {
				t.Errorf("%d bytes allocated, bound %d", n, c.bound)
			}
			// The reader stays failed.
			if _, err2 := sr.Next(); err2 == nil {
				t.Fatalf("Next after the error succeeded")
			}
		})
	}
}
