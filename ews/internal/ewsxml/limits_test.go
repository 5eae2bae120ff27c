package ewsxml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// limitSeeds are documents that exercise every state of the limit
// machine, each at a size where a piece boundary can fall anywhere.
var limitSeeds = []string{
	`<r a="1" b='2'><x/><!-- < --><![CDATA[<]]><?p <?></r>`,
	`<?xml version="1.0"?><s:E xmlns:s="urn:s" xmlns="urn:d"><s:B xml:lang="en"><x a=">"/></s:B></s:E>`,
	`<!DOCTYPE r [<!-- > --> <!ELEMENT r ANY> '>' <!ATTLIST r a CDATA "x">]><r a="" b=""/>`,
	`<r><!-- -- --><!---->x<![CDATA[]]]]>y<??></r>`,
	`<a xmlns:p="u"><b xmlns:q="v"/></a><c xmlns="w"/>`,
	`<r a="1"b="2" c = '3' />`,
	`<!-x><!><![CDAT><r/>`,
	`<r><a `,
	`<<r/>`,
}

// TestLimitState_MatchesReference: the machine gives the answer of the
// one-pass check it replaced (kept here as the reference), whatever the
// pieces it is fed in; where only the machine refuses (it counts inside
// a start tag the parser would fail at later), the document is not one
// Parse reads.
func TestLimitState_MatchesReference(t *testing.T) {
	for _, doc := range limitSeeds {
		for _, l := range []Limits{{}, {MaxTags: 9}, {MaxTags: 5}, {MaxAttrs: 1}, {MaxDepth: 1}} {
			checkAgainstReference(t, []byte(doc), l)
		}
	}
}

func checkAgainstReference(t *testing.T, doc []byte, l Limits) {
	t.Helper()
	ref := checkLimitsRef(doc, l)
	whole := CheckLimits(doc, l)
	if (ref == nil) != (whole == nil) {
		// They differ only at the end of a truncated input, or inside a
		// start tag the parser fails at later: the machine counts each
		// attribute as it comes, the reference judged a tag once it ended.
		if _, err := Parse(bytes.NewReader(doc), ParseOptions{}); err == nil {
			t.Fatalf("%q %+v: reference %v, CheckLimits %v, on a document Parse reads", doc, l, ref, whole)
		}
	}
	// Where the machine stops checking, the parser fails.
	if s := newLimitState(l, false); s.feed(doc) == nil && s.dead {
		if _, err := Parse(bytes.NewReader(doc), ParseOptions{}); err == nil {
			t.Fatalf("%q: the machine stopped checking a document Parse reads", doc)
		}
	}
	// In pieces of every size, the same answer as in one.
	for n := 1; n <= len(doc); n++ {
		s := newLimitState(l, false)
		if l.MaxTags > 0 && bytes.Count(doc, []byte{'<'}) > l.MaxTags {
			break // CheckLimits answered before running the machine
		}
		var err error
		for p := 0; p < len(doc) && err == nil; p += n {
			err = s.feed(doc[p:min(p+n, len(doc))])
		}
		if (err == nil) != (whole == nil) || err != nil && errKind(err) != errKind(whole) {
			t.Fatalf("%q %+v in pieces of %d: %v, whole %v", doc, l, n, err, whole)
		}
	}
}

func errKind(err error) error {
	for _, k := range []error{ErrTooManyTags, ErrTooManyAttributes, ErrTooManyNamespaces, ErrTooDeep} {
		if errors.Is(err, k) {
			return k
		}
	}
	return err
}

// FuzzLimitState: the machine against the reference and against itself
// fed in pieces, on any input.
func FuzzLimitState(f *testing.F) {
	for _, s := range limitSeeds {
		f.Add([]byte(s), uint8(0), uint8(0))
		f.Add([]byte(s), uint8(6), uint8(2))
	}
	f.Fuzz(func(t *testing.T, doc []byte, tags, attrs uint8) {
		if len(doc) > 1<<12 {
			return
		}
		checkAgainstReference(t, doc, Limits{MaxTags: int(tags), MaxAttrs: int(attrs), MaxDepth: int(attrs)})
	})
}

// TestLimitReader_Floods: each flood of the response path fails through
// the reader, read in small pieces by a token decoder, having allocated
// next to nothing: the decoder never receives the markup past the limit.
func TestLimitReader_Floods(t *testing.T) {
	for _, c := range floods() {
		l := Limits{MaxTags: c.opts.MaxTags, MaxDepth: c.opts.MaxDepth}
		var err error
		n := allocated(func() {
			d := NewDecoder(NewLimitReader(iotest.HalfReader(bytes.NewReader(c.body)), l))
			for err == nil {
				_, err = d.Token()
			}
		})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		// A flood on one element or one branch fails before the decoder
		// has read much; a flood of small elements is read (and its
		// tokens dropped) up to the limit, which bounds it.
		bound := uint64(64 << 10)
		if c.want == ErrTooManyTags || c.name == "attributes across elements" {
			bound = 256 * uint64(c.opts.MaxTags)
		}
		if n > bound {
			t.Errorf("%s: %d bytes allocated for a %d-byte stream, bound %d", c.name, n, len(c.body), bound)
		}
	}
}

// TestLimitReader_CountsPerDocument: a stream of documents each within
// the limits is read to the end, however long; one document past them
// fails.
func TestLimitReader_CountsPerDocument(t *testing.T) {
	one := `<e xmlns="urn:x"><a b="1" c="2"/><a b="3"/></e>` // 6 '<' + 2 self-closing = 8 tags, 3 attributes
	l := Limits{MaxTags: 8}
	stream := strings.Repeat(one+"\r\n", 1000)
	if _, err := io.Copy(io.Discard, NewLimitReader(strings.NewReader(stream), l)); err != nil {
		t.Fatalf("stream of documents within the limit: %v", err)
	}
	big := `<e><a/><a/><a/><a/></e>` // 6 '<' + 4 self-closing
	_, err := io.Copy(io.Discard, NewLimitReader(strings.NewReader(one+big), l))
	if !errors.Is(err, ErrTooManyTags) {
		t.Fatalf("second document past the limit: %v", err)
	}
	attrs := `<e>` + strings.Repeat(`<a b="" c="" d=""></a>`, 5) + `</e>`
	_, err = io.Copy(io.Discard, NewLimitReader(strings.NewReader(attrs), Limits{MaxTags: 12}))
	if !errors.Is(err, ErrTooManyAttributes) {
		t.Fatalf("attributes past the limit: %v", err)
	}
	// After the error, every read fails with it.
	r := NewLimitReader(strings.NewReader(attrs), Limits{MaxTags: 12})
	io.Copy(io.Discard, r)
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, ErrTooManyAttributes) {
		t.Fatalf("read after the error: %v", err)
	}
}

// BenchmarkCheckLimits is the limit check over a 4 MiB document of
// EWS-like markup, and the one-pass check it replaced.
func BenchmarkCheckLimits(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`<s:Envelope xmlns:s="urn:s" xmlns:t="urn:t"><s:Body>`)
	for i := 0; buf.Len() < 4<<20; i++ {
		fmt.Fprintf(&buf, `<t:Message><t:ItemId Id="AAMkAD%08d" ChangeKey="CQAAABYA"/><t:Subject>Hello &amp; welcome %d</t:Subject><t:IsRead>false</t:IsRead></t:Message>`, i, i)
	}
	buf.WriteString(`</s:Body></s:Envelope>`)
	doc := buf.Bytes()
	for _, c := range []struct {
		name  string
		check func([]byte, Limits) error
	}{{"machine", CheckLimits}, {"reference", checkLimitsRef}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if err := c.check(doc, Limits{MaxTags: 1 << 22}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// checkLimitsRef is the one-pass check CheckLimits made before its rule
// became a machine (limits.go), kept as the reference the machine is
// compared with.
func checkLimitsRef(b []byte, l Limits) error {
	l = l.withDefaults()
	tags := 0
	if l.MaxTags > 0 {
		tags = bytes.Count(b, []byte{'<'})
		if tags > l.MaxTags {
			return fmt.Errorf("%w: %d tags, limit %d", ErrTooManyTags, tags, l.MaxTags)
		}
	}
	var stack []int // namespace declarations per open element
	inScope, attrs := 0, 0
	for p := 0; ; {
		i := bytes.IndexByte(b[p:], '<')
		if i < 0 {
			return nil
		}
		p += i
		rest := b[p:]
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			k := bytes.IndexByte(rest, '>')
			if k < 0 {
				return nil
			}
			if n := len(stack); n > 0 {
				inScope -= stack[n-1]
				stack = stack[:n-1]
			}
			p += k + 1
		case bytes.HasPrefix(rest, []byte("<?")):
			k := bytes.Index(rest[2:], []byte("?>"))
			if k < 0 {
				return nil
			}
			p += 2 + k + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			k := bytes.Index(rest[4:], []byte("-->"))
			if k < 0 {
				return nil
			}
			p += 4 + k + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			k := bytes.Index(rest[9:], []byte("]]>"))
			if k < 0 {
				return nil
			}
			p += 9 + k + 3
		case bytes.HasPrefix(rest, []byte("<!")):
			n := refDirectiveLen(rest)
			if n < 0 {
				return nil
			}
			p += n
		default:
			q, decls, n, empty := refStartTagLen(rest, l.MaxAttrs)
			if q == -1 {
				return nil
			}
			if inScope+decls > MaxNamespaces {
				return fmt.Errorf("%w (limit %d)", ErrTooManyNamespaces, MaxNamespaces)
			}
			if attrs += n; q == -2 || l.MaxTags > 0 && attrs > l.MaxTags {
				return fmt.Errorf("%w: more than %d on one element or %d in all", ErrTooManyAttributes, l.MaxAttrs, l.MaxTags)
			}
			if len(stack)+1 > l.MaxDepth {
				return fmt.Errorf("%w (limit %d)", ErrTooDeep, l.MaxDepth)
			}
			if empty {
				if tags++; l.MaxTags > 0 && tags > l.MaxTags {
					return fmt.Errorf("%w: more than %d tags (a self-closing tag counts twice)", ErrTooManyTags, l.MaxTags)
				}
			} else {
				stack = append(stack, decls)
				inScope += decls
			}
			p += q
		}
	}
}
func refStartTagLen(b []byte, maxAttrs int) (n, decls, attrs int, empty bool) {
	p := 1
	for p < len(b) && isXMLNameByte(b[p]) {
		p++
	}
	if p == 1 {
		return -1, 0, 0, false
	}
	for {
		for p < len(b) && isSpaceByte(b[p]) {
			p++
		}
		if p >= len(b) {
			return -1, 0, 0, false
		}
		switch b[p] {
		case '>':
			return p + 1, decls, attrs, false
		case '/':
			if p+1 < len(b) && b[p+1] == '>' {
				return p + 2, decls, attrs, true
			}
			return -1, 0, 0, false
		}
		start := p
		for p < len(b) && isXMLNameByte(b[p]) {
			p++
		}
		if p == start {
			return -1, 0, 0, false
		}
		name := b[start:p]
		attrs++
		if string(name) == "xmlns" || bytes.HasPrefix(name, []byte("xmlns:")) {
			decls++
		}
		if attrs > maxAttrs {
			return -2, decls, attrs, false
		}
		for p < len(b) && isSpaceByte(b[p]) {
			p++
		}
		if p >= len(b) || b[p] != '=' {
			return -1, 0, 0, false
		}
		p++
		for p < len(b) && isSpaceByte(b[p]) {
			p++
		}
		if p >= len(b) || b[p] != '"' && b[p] != '\'' {
			return -1, 0, 0, false
		}
		k := bytes.IndexByte(b[p+1:], b[p])
		if k < 0 {
			return -1, 0, 0, false
		}
		p += 1 + k + 1
	}
}
func refDirectiveLen(b []byte) int {
	if len(b) < 3 {
		return -1
	}
	var quote byte
	depth := 0
	for p := 3; p < len(b); p++ { // encoding/xml does not look at b[2]
		c := b[p]
		if quote == 0 && c == '>' && depth == 0 {
			return p + 1
		}
		switch {
		case c == quote:
			quote = 0
		case quote != 0:
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			depth--
		case c == '<':
			if bytes.HasPrefix(b[p:], []byte("<!--")) {
				k := bytes.Index(b[p+4:], []byte("-->"))
				if k < 0 {
					return -1
				}
				p += 4 + k + 2
				continue
			}
			depth++
		}
	}
	return -1
}

var checkFn = checkLimitsRef
