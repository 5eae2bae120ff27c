package ewsxml

import (
	"bytes"
	"fmt"
	"io"
)

// limitState is the rule of CheckLimits as a machine that is fed a
// document's bytes in pieces of any size, so that a stream can be checked
// as it is read, before a decoder behind it builds anything. It reads the
// markup as encoding/xml tokenizes it (strict grammar, quoted attribute
// values, comments, CDATA sections, processing instructions, directives
// with their quotes, nested brackets and comments). At markup the parser
// fails at, it stops checking (dead): the parser behind it fails at the
// same place. Every piece is scanned once; the state carries what
// straddles two pieces.
type limitState struct {
	l       Limits
	perRoot bool // count tags and attributes afresh for each top-level element
	st      lstate
	dead    bool
	err     error

	tags, attrs int   // '<' (plus one per self-closing tag) and attributes counted
	stack       []int // namespace declarations per open element
	inScope     int

	tagAttrs, tagDecls int // of the start tag being read
	nameLen, xm        int // attribute name length, bytes of "xmlns" it starts with
	prefixed           bool
	quote              byte

	run      int // terminator bytes seen ("--", "]]", "?") before a '>'
	bang     [7]byte
	nbang    int
	dq       byte // directive: open quote
	ddepth   int  // directive: nested '<' ... '>'
	dlt      int  // directive: 1 + bytes of "!--" seen after a '<', or 0
	dcomment bool // directive: inside a nested comment
	drun     int  // directive: '-' seen before a '>' in that comment
}

type lstate uint8

const (
	stText      lstate = iota
	stLT               // after '<'
	stEnd              // in an end tag, before its '>'
	stPI               // in a processing instruction, before "?>"
	stBang             // after "<!", telling a comment, CDATA or a directive apart
	stComment          // before "-->"
	stCDATA            // before "]]>"
	stDirective        // in a directive, before its '>'
	stName             // in an element name
	stTagSpace         // in a start tag, between attributes
	stAttrName         // in an attribute name
	stEq               // before '='
	stValSpace         // before an attribute value's quote
	stValue            // in an attribute value
	stSlash            // after '/' in a start tag
)

func newLimitState(l Limits, perRoot bool) *limitState {
	return &limitState{l: l.withDefaults(), perRoot: perRoot}
}

// feed checks the next piece of the document. Once it has returned an
// error it returns the same error.
func (s *limitState) feed(b []byte) error {
	for p := 0; p < len(b) && !s.dead && s.err == nil; {
		p = s.step(b, p)
	}
	return s.err
}

// countLT counts the '<' of b against MaxTags.
func (s *limitState) countLT(b []byte) {
	if n := bytes.Count(b, []byte{'<'}); n > 0 {
		s.addTags(n)
	}
}

func (s *limitState) addTags(n int) {
	if s.tags += n; s.l.MaxTags > 0 && s.tags > s.l.MaxTags {
		s.err = fmt.Errorf("%w: more than %d tags (a self-closing tag counts twice)", ErrTooManyTags, s.l.MaxTags)
	}
}

// rootDone starts the counts afresh after a top-level element, for a
// stream of documents.
func (s *limitState) rootDone() {
	if s.perRoot && len(s.stack) == 0 {
		s.tags, s.attrs = 0, 0
	}
}

// step consumes some of b from p in the current state and returns where
// it stopped.
func (s *limitState) step(b []byte, p int) int {
	switch s.st {
	case stText:
		i := bytes.IndexByte(b[p:], '<')
		if i < 0 {
			return len(b)
		}
		s.addTags(1)
		s.st = stLT
		return p + i + 1
	case stLT:
		switch c := b[p]; {
		case c == '/':
			s.st = stEnd
		case c == '?':
			s.st, s.run = stPI, 0
		case c == '!':
			s.st, s.nbang = stBang, 0
		case isXMLNameByte(c):
			if n := s.startTag(b, p); n > 0 {
				s.st = stText
				return p + n
			}
			s.st = stName
		default:
			s.dead = true
		}
		return p + 1
	case stEnd:
		i := bytes.IndexByte(b[p:], '>')
		if i < 0 {
			s.countLT(b[p:])
			return len(b)
		}
		s.countLT(b[p : p+i])
		if n := len(s.stack); n > 0 {
			s.inScope -= s.stack[n-1]
			s.stack = s.stack[:n-1]
			s.rootDone()
		}
		s.st = stText
		return p + i + 1
	case stPI:
		return s.seek(b, p, '?', 1)
	case stComment:
		return s.seek(b, p, '-', 2)
	case stCDATA:
		return s.seek(b, p, ']', 2)
	case stBang:
		return s.stepBang(b, p)
	case stDirective:
		for p < len(b) {
			c := b[p]
			p++
			if c == '<' {
				if s.addTags(1); s.err != nil {
					return p
				}
			}
			if s.dirByte(c) {
				s.st = stText
				break
			}
		}
		return p
	case stName:
		for p < len(b) && isXMLNameByte(b[p]) {
			p++
		}
		if p < len(b) {
			if len(s.stack)+1 > s.l.MaxDepth {
				s.err = fmt.Errorf("%w (limit %d)", ErrTooDeep, s.l.MaxDepth)
			}
			s.tagAttrs, s.tagDecls, s.st = 0, 0, stTagSpace
		}
		return p
	case stTagSpace:
		switch c := b[p]; {
		case isSpaceByte(c):
			return p + 1
		case c == '>':
			s.stack = append(s.stack, s.tagDecls)
			s.inScope += s.tagDecls
			s.st = stText
			return p + 1
		case c == '/':
			s.st = stSlash
			return p + 1
		case isXMLNameByte(c):
			s.st, s.nameLen, s.xm, s.prefixed = stAttrName, 0, 0, false
			return p
		}
		s.dead = true
		return p
	case stAttrName:
		return s.stepAttrName(b, p)
	case stEq, stValSpace:
		c := b[p]
		switch {
		case isSpaceByte(c):
		case s.st == stEq && c == '=':
			s.st = stValSpace
		case s.st == stValSpace && (c == '"' || c == '\''):
			s.st, s.quote = stValue, c
		default:
			s.dead = true
		}
		return p + 1
	case stValue:
		// A '<' in a value is no markup (and the parser fails at it).
		i := bytes.IndexByte(b[p:], s.quote)
		if i < 0 {
			return len(b)
		}
		s.st = stTagSpace
		return p + i + 1
	case stSlash:
		if b[p] != '>' {
			s.dead = true
			return p
		}
		if s.addTags(1); s.err == nil {
			s.rootDone()
		}
		s.st = stText
		return p + 1
	}
	panic("ewsxml: unknown limit state")
}

// startTag is the fast path of a start tag that ends within b: it reads
// the tag whose name starts at b[p] and returns its length from p, having
// counted it, or 0 when the tag does not end within b or is malformed,
// which the machine then reads byte by byte.
func (s *limitState) startTag(b []byte, p int) int {
	q := p
	for q < len(b) && isXMLNameByte(b[q]) {
		q++
	}
	decls, attrs := 0, 0
	for {
		for q < len(b) && isSpaceByte(b[q]) {
			q++
		}
		if q >= len(b) {
			return 0
		}
		switch b[q] {
		case '>', '/':
			empty := b[q] == '/'
			if empty && (q+1 >= len(b) || b[q+1] != '>') {
				return 0
			}
			switch s.attrs += attrs; {
			case len(s.stack)+1 > s.l.MaxDepth:
				s.err = fmt.Errorf("%w (limit %d)", ErrTooDeep, s.l.MaxDepth)
			case s.inScope+decls > MaxNamespaces:
				s.err = fmt.Errorf("%w (limit %d)", ErrTooManyNamespaces, MaxNamespaces)
			case attrs > s.l.MaxAttrs || s.l.MaxTags > 0 && s.attrs > s.l.MaxTags:
				s.err = fmt.Errorf("%w: more than %d on one element or %d in all", ErrTooManyAttributes, s.l.MaxAttrs, s.l.MaxTags)
			case empty:
				if s.addTags(1); s.err == nil {
					s.rootDone()
				}
				return q + 2 - p
			default:
				s.stack = append(s.stack, decls)
				s.inScope += decls
			}
			return q + 1 - p
		}
		start := q
		for q < len(b) && isXMLNameByte(b[q]) {
			q++
		}
		if q == start || q >= len(b) {
			return 0
		}
		if name := b[start:q]; len(name) >= 5 && string(name[:5]) == "xmlns" && (len(name) == 5 || name[5] == ':') {
			decls++
		}
		if attrs++; attrs > s.l.MaxAttrs {
			return 0 // the machine reports it where it comes
		}
		for q < len(b) && isSpaceByte(b[q]) {
			q++
		}
		if q >= len(b) || b[q] != '=' {
			return 0
		}
		q++
		for q < len(b) && isSpaceByte(b[q]) {
			q++
		}
		if q >= len(b) || b[q] != '"' && b[q] != '\'' {
			return 0
		}
		k := bytes.IndexByte(b[q+1:], b[q])
		if k < 0 {
			return 0
		}
		q += 1 + k + 1
	}
}

// seek looks for the end of a comment, CDATA section or processing
// instruction: k copies of c and then '>', which may straddle pieces.
func (s *limitState) seek(b []byte, p int, c byte, k int) int {
	for {
		i := bytes.IndexByte(b[p:], '>')
		if i < 0 {
			s.countLT(b[p:])
			s.run = trailingRun(b[p:], c, k, s.run)
			return len(b)
		}
		j := p + i
		s.countLT(b[p:j])
		if trailingRun(b[p:j], c, k, s.run) >= k {
			s.st, s.run = stText, 0
			return j + 1
		}
		s.run, p = 0, j+1
	}
}

// trailingRun returns how many copies of c end b (at most k), counting
// run more when b is all c.
func trailingRun(b []byte, c byte, k, run int) int {
	n := 0
	for n < k && n < len(b) && b[len(b)-1-n] == c {
		n++
	}
	if n == len(b) {
		n += run
	}
	return min(n, k)
}

// stepBang reads the bytes after "<!" until they tell a comment ("--"), a
// CDATA section ("[CDATA[") or a directive apart.
func (s *limitState) stepBang(b []byte, p int) int {
	c := b[p]
	if c == '<' {
		if s.addTags(1); s.err != nil {
			return p + 1
		}
	}
	s.bang[s.nbang] = c
	s.nbang++
	got := s.bang[:s.nbang]
	switch {
	case bytes.HasPrefix([]byte("--"), got):
		if len(got) == 2 {
			s.st, s.run = stComment, 0
		}
	case bytes.HasPrefix([]byte("[CDATA["), got):
		if len(got) == 7 {
			s.st, s.run = stCDATA, 0
		}
	default:
		// A directive; encoding/xml does not look at its first byte.
		s.st, s.dq, s.ddepth, s.dlt, s.dcomment = stDirective, 0, 0, 0, false
		for _, c := range got[1:] {
			if s.dirByte(c) {
				s.st = stText
			}
		}
	}
	return p + 1
}

// dirByte reads one byte of a directive and reports whether it ended it.
func (s *limitState) dirByte(c byte) bool {
	if s.dcomment {
		switch {
		case c == '>' && s.drun >= 2:
			s.dcomment = false
		case c == '-':
			s.drun = min(s.drun+1, 2)
		default:
			s.drun = 0
		}
		return false
	}
	if s.dlt > 0 {
		if c == "!--"[s.dlt-1] {
			if s.dlt++; s.dlt == 4 {
				s.dlt, s.dcomment, s.drun = 0, true, 0
			}
			return false
		}
		s.dlt = 0
		s.ddepth++ // an ordinary '<'; c is read as it comes
	}
	if s.dq == 0 && c == '>' && s.ddepth == 0 {
		return true
	}
	switch {
	case c == s.dq:
		s.dq = 0
	case s.dq != 0:
	case c == '\'' || c == '"':
		s.dq = c
	case c == '>':
		s.ddepth--
	case c == '<':
		s.dlt = 1
	}
	return false
}

// stepAttrName reads an attribute name and, at its end, counts the
// attribute against the limits.
func (s *limitState) stepAttrName(b []byte, p int) int {
	for ; p < len(b) && isXMLNameByte(b[p]); p++ {
		c := b[p]
		switch {
		case s.nameLen < 5 && s.xm == s.nameLen && c == "xmlns"[s.nameLen]:
			s.xm++
		case s.nameLen == 5 && s.xm == 5 && c == ':':
			s.prefixed = true
		}
		s.nameLen++
	}
	if p == len(b) {
		return p
	}
	s.tagAttrs++
	s.attrs++
	if s.xm == 5 && (s.nameLen == 5 || s.prefixed) {
		s.tagDecls++
	}
	switch {
	case s.inScope+s.tagDecls > MaxNamespaces:
		s.err = fmt.Errorf("%w (limit %d)", ErrTooManyNamespaces, MaxNamespaces)
	case s.tagAttrs > s.l.MaxAttrs || s.l.MaxTags > 0 && s.attrs > s.l.MaxTags:
		s.err = fmt.Errorf("%w: more than %d on one element or %d in all", ErrTooManyAttributes, s.l.MaxAttrs, s.l.MaxTags)
	}
	s.st = stEq
	return p
}

// NewLimitReader returns a reader of r's bytes that checks them, as they
// pass, against l with the rule of CheckLimits, so that a decoder reading
// from it never receives markup past a limit: the Read that would deliver
// it fails instead, with an error wrapping ErrTooManyTags,
// ErrTooManyAttributes, ErrTooManyNamespaces or ErrTooDeep, and so does
// every later Read. The input is read as a stream of documents (such as
// the SOAP envelopes of a GetStreamingEvents response): tags and
// attributes are counted afresh for each top-level element. Nothing is
// buffered; the reader allocates only a stack of l.MaxDepth counters.
func NewLimitReader(r io.Reader, l Limits) io.Reader {
	return &limitReader{r: r, s: newLimitState(l, true)}
}

type limitReader struct {
	r io.Reader
	s *limitState
}

func (lr *limitReader) Read(p []byte) (int, error) {
	if lr.s.err != nil {
		return 0, lr.s.err
	}
	n, err := lr.r.Read(p)
	if cerr := lr.s.feed(p[:n]); cerr != nil {
		return 0, cerr
	}
	return n, err
}
