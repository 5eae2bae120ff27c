package ewsxml

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes allocated by f.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// floods are the hostile shapes of issue 13, scaled down about tenfold:
// each must fail with its typed error before anything is built, so the
// parse allocates next to nothing whatever the body's size.
func floods() []struct {
	name string
	body []byte
	opts ParseOptions
	want error
} {
	attrs := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a `)
		for i := range n {
			b.WriteString("a")
			b.WriteString(strings.Repeat("x", i%7))
			b.WriteString(`="" `)
		}
		b.WriteString(`/></s:Body></s:Envelope>`)
		return b.Bytes()
	}
	xmlns := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString(`<a `)
		for i := range n {
			b.WriteString(`xmlns:p`)
			b.WriteString(strings.Repeat("q", i%5))
			b.WriteString(`="urn:x" `)
		}
		b.WriteString(`/>`)
		return b.Bytes()
	}
	nestedNS := func(n int) []byte {
		var b bytes.Buffer
		for range n {
			b.WriteString(`<a xmlns:p="urn:x">`)
		}
		for range n {
			b.WriteString(`</a>`)
		}
		return b.Bytes()
	}
	empties := func(n int) []byte {
		return []byte("<r>" + strings.Repeat("<a/>", n) + "</r>")
	}
	manyAttrs := func(n int) []byte { // many elements with a few attributes each
		return []byte("<r>" + strings.Repeat(`<a b="" c="" d="" e="" f="" g=""></a>`, n) + "</r>")
	}
	return []struct {
		name string
		body []byte
		opts ParseOptions
		want error
	}{
		{"550k attributes on one element", attrs(550_000), ParseOptions{MaxTags: 2 << 20}, ErrTooManyAttributes},
		{"550k attributes, no tag limit", attrs(550_000), ParseOptions{}, ErrTooManyAttributes},
		{"100k xmlns on one element", xmlns(100_000), ParseOptions{MaxTags: 2 << 20}, ErrTooManyNamespaces},
		{"xmlns on 100 nested elements", nestedNS(100), ParseOptions{MaxTags: 2 << 20}, ErrTooManyNamespaces},
		{"200k empty elements", empties(200_000), ParseOptions{MaxTags: 2 << 20 / 10}, ErrTooManyTags},
		{"attributes across elements", manyAttrs(50_000), ParseOptions{MaxTags: 200_000}, ErrTooManyAttributes},
		{"deep nesting", []byte(strings.Repeat("<a>", 200_000)), ParseOptions{MaxTags: 2 << 20}, ErrTooDeep},
	}
}

func TestParseBytesFloods(t *testing.T) {
	for _, c := range floods() {
		var err error
		n := allocated(func() { _, err = ParseBytes(c.body, c.opts) })
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		// The body itself is not copied; the bound leaves room for the
		// error and the depth stack.
		if n > 64<<10 {
			t.Errorf("%s: %d bytes allocated for a %d-byte body", c.name, n, len(c.body))
		}
		lim := Limits{MaxTags: c.opts.MaxTags, MaxDepth: c.opts.MaxDepth}
		if err := CheckLimits(c.body, lim); !errors.Is(err, c.want) {
			t.Errorf("%s: CheckLimits = %v", c.name, err)
		}
		// The scanner stops too, without allocating more than its stack.
		var s Scanner
		n = allocated(func() {
			s.Reset(c.body, lim)
			for tok := s.Next(); tok == TokStart || tok == TokEnd; tok = s.Next() {
			}
		})
		if s.Err() == nil || n > 64<<10 {
			t.Errorf("%s: scanner err %v after %d bytes", c.name, s.Err(), n)
		}
	}
}

// TestCheckLimitsAcceptsWithinLimits: documents at the limits pass, one
// more fails.
func TestCheckLimitsBoundaries(t *testing.T) {
	doc := []byte(`<r a="1" b='2'><x/><!-- < --><![CDATA[<]]><?p <?></r>`)
	// '<' characters: r, x, comment, its '<', CDATA, its '<', PI, its '<', /r = 9, plus x self-closing.
	if err := CheckLimits(doc, Limits{MaxTags: 10}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if err := CheckLimits(doc, Limits{MaxTags: 9}); !errors.Is(err, ErrTooManyTags) {
		t.Errorf("past the limit: %v", err)
	}
	if err := CheckLimits(doc, Limits{MaxAttrs: 2}); err != nil {
		t.Errorf("two attributes, limit 2: %v", err)
	}
	if err := CheckLimits(doc, Limits{MaxAttrs: 1}); !errors.Is(err, ErrTooManyAttributes) {
		t.Errorf("two attributes, limit 1: %v", err)
	}
	if err := CheckLimits([]byte(`<!DOCTYPE r [<!-- > --> <!ELEMENT r ANY> '>']><r `+strings.Repeat(`a="" `, 70)+`/>`), Limits{}); !errors.Is(err, ErrTooManyAttributes) {
		t.Errorf("after a document type: %v", err)
	}
}
