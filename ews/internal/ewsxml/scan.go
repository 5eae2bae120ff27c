package ewsxml

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// Scanner is a byte-level pull tokenizer for the responses the client
// reads most (SyncFolderItems and GetItem pages), which never builds a
// tree. It accepts a strict subset of what Parse accepts and reads it
// exactly as Parse does: namespaces are resolved by URI, entities and
// character references are replaced (with Parse's rule for references to
// characters XML forbids), CDATA is character data, \r\n becomes \n, and
// Text follows etree's Element.Text. Anything outside the subset (a
// document type declaration, processing instructions other than the XML
// declaration, non-ASCII names, a byte order mark, unknown entities,
// duplicate attributes, deep nesting, ...) stops the scanner with
// ErrUnsupported, and so does anything Parse would reject; the caller
// then decodes the same bytes with Parse, which gives the definitive
// answer. So a caller never needs to tell the two apart: a Scanner that
// reaches TokEOF read a document Parse reads the same way.
//
// The scanner also counts what the document would cost as a tree (tags,
// attributes, namespace declarations in scope, depth) while it scans; past
// a limit it stops with ErrLimit, and CheckLimits over the same bytes
// gives the typed error.
//
// A Scanner allocates only for namespace URIs with references in them and
// for its reusable buffers; byte slices it returns alias the input or an
// internal buffer and are valid until the next call.
type Scanner struct {
	b    []byte
	p    int
	err  error
	lim  Limits
	tags int // '<' seen (plus one per self-closing tag)
	nat  int // attributes seen

	// The current start tag.
	qname, local []byte
	space        Space
	attrs        []ScanAttr
	pendEnd      bool

	stack    []scanFrame
	binds    []scanBinding
	rootDone bool

	text, abuf []byte
}

// ScanAttr is one attribute of the current start tag.
type ScanAttr struct {
	// Prefix and Local are the parts of the attribute's name ("" prefix
	// for an unprefixed name).
	Prefix, Local []byte
	raw           []byte
	plain         bool
}

type scanFrame struct {
	qname []byte
	mark  int // len(binds) before the element's declarations
}

type scanBinding struct {
	prefix []byte
	uri    string
	space  Space
}

// Space identifies the namespace of an element the Scanner returns.
type Space uint8

// Namespaces the Scanner tells apart.
const (
	// SpaceNone is no namespace (an unprefixed name without a default
	// namespace, or one bound to "").
	SpaceNone Space = iota
	// SpaceSoap is NSSoap.
	SpaceSoap
	// SpaceMessages is NSMessages.
	SpaceMessages
	// SpaceTypes is NSTypes.
	SpaceTypes
	// SpaceOther is any other namespace.
	SpaceOther
)

// Tok is a token kind returned by Scanner.Next.
type Tok uint8

// Token kinds.
const (
	// TokErr: the scan stopped; Err says why.
	TokErr Tok = iota
	// TokStart: a start tag (or the start half of a self-closing tag).
	TokStart
	// TokEnd: the end tag of the innermost open element.
	TokEnd
	// TokEOF: the root element ended and only white space and comments
	// followed.
	TokEOF
)

// Errors of a Scanner.
var (
	// ErrUnsupported reports input outside the Scanner's subset, or input
	// Parse would reject: decode it with Parse instead.
	ErrUnsupported = errors.New("ewsxml: input outside the scanner's subset")
	// ErrLimit reports input past one of the scanner's Limits; CheckLimits
	// over the same bytes returns the typed error.
	ErrLimit = errors.New("ewsxml: input past a limit")
)

// scanMaxDepth and scanMaxNamespaces are below Parse's own limits, so that
// the scanner gives up before Parse would fail for depth or scope.
const (
	scanMaxDepth      = 100
	scanMaxNamespaces = 32
	scanMaxAttrs      = 32
)

// NewScanner returns a Scanner over b, which must not change while the
// scanner or the slices it returns are in use.
func NewScanner(b []byte, lim Limits) *Scanner {
	s := &Scanner{}
	s.Reset(b, lim)
	return s
}

// Reset makes s scan b from the start, keeping its buffers.
func (s *Scanner) Reset(b []byte, lim Limits) {
	*s = Scanner{b: b, lim: lim.withDefaults(), attrs: s.attrs[:0], stack: s.stack[:0], binds: s.binds[:0],
		text: s.text[:0], abuf: s.abuf[:0]}
	if bytes.HasPrefix(b, []byte("<?xml")) {
		s.xmlDecl()
	}
}

// Err returns why the scan stopped: ErrUnsupported or ErrLimit (nil while
// scanning and after TokEOF).
func (s *Scanner) Err() error { return s.err }

// Fail stops the scan with ErrUnsupported; decoders call it for content
// they do not handle themselves.
func (s *Scanner) Fail() { s.fail() }

func (s *Scanner) fail() Tok {
	if s.err == nil {
		s.err = ErrUnsupported
	}
	return TokErr
}

func (s *Scanner) limit() Tok {
	if s.err == nil {
		s.err = ErrLimit
	}
	return TokErr
}

// Local returns the local name of the current start tag.
func (s *Scanner) Local() []byte { return s.local }

// Space returns the namespace of the current start tag.
func (s *Scanner) Space() Space { return s.space }

// Is reports whether the current start tag is local in space sp.
func (s *Scanner) Is(sp Space, local string) bool {
	return s.space == sp && string(s.local) == local
}

// Attrs returns the attributes of the current start tag in document
// order (namespace declarations included). Names are unique.
func (s *Scanner) Attrs() []ScanAttr { return s.attrs }

// AttrValue returns the value of attribute a of the current start tag
// with references replaced; it is valid until the next call.
func (s *Scanner) AttrValue(a *ScanAttr) []byte {
	if a.plain {
		return a.raw
	}
	s.abuf = appendText(s.abuf[:0], a.raw)
	return s.abuf
}

// Attr returns the value of the current start tag's unprefixed attribute
// local, as AttrValue does, and whether it is there.
func (s *Scanner) Attr(local string) ([]byte, bool) {
	for i := range s.attrs {
		a := &s.attrs[i]
		if len(a.Prefix) == 0 && string(a.Local) == local {
			return s.AttrValue(a), true
		}
	}
	return nil, false
}

// Next returns the next start or end tag, skipping character data and
// comments between them (which it still checks).
func (s *Scanner) Next() Tok {
	if s.err != nil {
		return TokErr
	}
	if s.pendEnd {
		s.pendEnd = false
		s.pop()
		return TokEnd
	}
	for {
		i := bytes.IndexByte(s.b[s.p:], '<')
		if i < 0 {
			if len(s.stack) > 0 || !s.rootDone || !isWhite(s.b[s.p:]) {
				return s.fail()
			}
			s.p = len(s.b)
			return TokEOF
		}
		if i > 0 {
			seg := s.b[s.p : s.p+i]
			if len(s.stack) == 0 {
				if !isWhite(seg) {
					return s.fail()
				}
			} else if _, ok := checkText(seg, false); !ok {
				return s.fail()
			}
			s.p += i
		}
		if s.tags++; s.lim.MaxTags > 0 && s.tags > s.lim.MaxTags {
			return s.limit()
		}
		switch s.at(s.p + 1) {
		case '/':
			if !s.endTag() {
				return TokErr
			}
			return TokEnd
		case '!':
			if !s.bang(nil, false) {
				return TokErr
			}
		case '?':
			return s.fail()
		default:
			if len(s.stack) == 0 && s.rootDone {
				return s.fail()
			}
			return s.startTag()
		}
	}
}

// Child advances to the next child element of the element whose start
// tag was returned last and is still open, and reports whether there is
// one; the scanner is then at the child's start tag. It returns false at
// that element's end tag, and when the scan stops; Err is nil only in the
// first case (inside an element the scan cannot reach TokEOF). A decoder
// reads an element's children with
//
//	for s.Child() {
//		... // read or Skip the child
//	}
//	return v, s.Err() == nil
func (s *Scanner) Child() bool { return s.Next() == TokStart }

// Skip consumes the rest of the element whose start tag was just
// returned, through its end tag.
func (s *Scanner) Skip() bool {
	_, ok := s.content(false)
	return ok
}

// Text returns the character data of the element whose start tag was just
// returned, as etree's Element.Text gives it for Parse's tree: the
// character data and CDATA sections before its first child element,
// comments skipped, references replaced. It consumes the element through
// its end tag. The slice is valid until the next call.
func (s *Scanner) Text() ([]byte, bool) { return s.content(true) }

// RawText returns the bytes between the start tag just returned and its
// end tag when they are all bytes ok allows (which must exclude '<', '&'
// and anything checkText refuses), with no CDATA, comments or child
// elements, and consumes the element; otherwise it consumes nothing and
// returns false. A self-closing tag has empty raw
// text.
func (s *Scanner) RawText(ok *[256]bool) ([]byte, bool) {
	if s.err != nil {
		return nil, false
	}
	if s.pendEnd {
		s.pendEnd = false
		s.pop()
		return s.b[s.p:s.p], true
	}
	i := bytes.IndexByte(s.b[s.p:], '<')
	if i < 0 {
		return nil, false
	}
	seg := s.b[s.p : s.p+i]
	for _, c := range seg {
		if !ok[c] {
			return nil, false
		}
	}
	if s.at(s.p+i+1) != '/' {
		return nil, false
	}
	save := s.p
	s.p += i
	if s.tags++; s.lim.MaxTags > 0 && s.tags > s.lim.MaxTags {
		s.limit()
		return nil, false
	}
	if !s.endTag() {
		if s.err == ErrUnsupported {
			s.err, s.p = nil, save
			s.tags--
		}
		return nil, false
	}
	return seg, true
}

func (s *Scanner) content(collect bool) ([]byte, bool) {
	if s.err != nil {
		return nil, false
	}
	if s.pendEnd {
		s.pendEnd = false
		s.pop()
		return nil, true
	}
	out := s.text[:0]
	var one []byte // the only segment, when it needs no copy
	segs := 0
	add := func(seg []byte, plain bool) {
		segs++
		switch {
		case segs == 1 && plain:
			one = seg
			return
		case segs == 2 && one != nil:
			out = append(out, one...)
			one = nil
		}
		if plain {
			out = append(out, seg...)
		} else {
			out = appendText(out, seg)
		}
	}
	depth := 0
	for {
		i := bytes.IndexByte(s.b[s.p:], '<')
		if i < 0 {
			s.fail()
			return nil, false
		}
		if i > 0 {
			seg := s.b[s.p : s.p+i]
			plain, ok := checkText(seg, false)
			if !ok {
				s.fail()
				return nil, false
			}
			if collect {
				add(seg, plain)
			}
			s.p += i
		}
		if s.tags++; s.lim.MaxTags > 0 && s.tags > s.lim.MaxTags {
			s.limit()
			return nil, false
		}
		switch s.at(s.p + 1) {
		case '/':
			if !s.endTag() {
				return nil, false
			}
			if depth == 0 {
				s.text = out
				if one != nil {
					return one, true
				}
				return out, true
			}
			depth--
		case '!':
			var cd *[]byte
			if collect {
				if one != nil {
					out = append(out, one...)
					one = nil
				}
				segs = 2 // whatever follows appends to out
				cd = &out
			}
			if !s.bang(cd, true) {
				return nil, false
			}
		case '?':
			s.fail()
			return nil, false
		default:
			collect = false
			if s.startTag() != TokStart {
				return nil, false
			}
			if s.pendEnd {
				s.pendEnd = false
				s.pop()
			} else {
				depth++
			}
		}
	}
}

func (s *Scanner) at(i int) byte {
	if i < len(s.b) {
		return s.b[i]
	}
	return 0
}

// countTags counts the '<' of a comment or CDATA body against MaxTags, as
// CheckLimits counts every '<' of a body; false once over the limit.
func (s *Scanner) countTags(body []byte) bool {
	if n := bytes.Count(body, []byte{'<'}); n > 0 {
		if s.tags += n; s.lim.MaxTags > 0 && s.tags > s.lim.MaxTags {
			s.limit()
			return false
		}
	}
	return true
}

// bang reads a comment, or (inElem) a CDATA section whose text is appended
// to *cd when cd is not nil. s.p is at '<'.
func (s *Scanner) bang(cd *[]byte, inElem bool) bool {
	rest := s.b[s.p:]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		k := bytes.Index(rest[4:], []byte("--"))
		if k < 0 || 4+k+2 >= len(rest) || rest[4+k+2] != '>' {
			s.fail()
			return false
		}
		body := rest[4 : 4+k]
		if bytes.Contains(body, []byte(mimeMarker)) {
			s.fail()
			return false
		}
		if !s.countTags(body) {
			return false
		}
		s.p += 4 + k + 3
		return true
	case inElem && bytes.HasPrefix(rest, []byte("<![CDATA[")):
		k := bytes.Index(rest[9:], []byte("]]>"))
		if k < 0 {
			s.fail()
			return false
		}
		body := rest[9 : 9+k]
		plain, ok := checkCDATA(body)
		if !ok {
			s.fail()
			return false
		}
		if !s.countTags(body) {
			return false
		}
		if cd != nil {
			if plain {
				*cd = append(*cd, body...)
			} else {
				*cd = appendCR(*cd, body)
			}
		}
		s.p += 9 + k + 3
		return true
	}
	s.fail()
	return false
}

// mimeMarker in a comment or CDATA section makes the scanner give up:
// the tree path lifts MimeContent out of the raw bytes before parsing
// (ews/mime.go), which would change such text.
const mimeMarker = "MimeContent"

// scanName reads an ASCII QName at p: it returns the whole name, the
// index of its colon (-1 for none) and the index after it.
func (s *Scanner) scanName(p int) (name []byte, colon, end int, ok bool) {
	b := s.b
	start := p
	colon = -1
	if p >= len(b) || nameClass[b[p]] != nameStart {
		return nil, 0, 0, false
	}
	p++
	for p < len(b) {
		switch nameClass[b[p]] {
		case nameStart, nameChar:
			p++
			continue
		case nameColon:
			if colon >= 0 || p+1 >= len(b) || nameClass[b[p+1]] != nameStart {
				return nil, 0, 0, false
			}
			colon = p
			p += 2
			continue
		case nameHigh:
			return nil, 0, 0, false
		}
		break
	}
	if p >= len(b) {
		return nil, 0, 0, false
	}
	return b[start:p], colon - start, p, true
}

func (s *Scanner) skipSpace(p int) int {
	for p < len(s.b) {
		switch s.b[p] {
		case ' ', '\t', '\r', '\n':
			p++
			continue
		}
		break
	}
	return p
}

// startTag reads a start tag at s.p.
func (s *Scanner) startTag() Tok {
	if len(s.stack) >= scanMaxDepth {
		return s.fail()
	}
	qn, colon, p, ok := s.scanName(s.p + 1)
	if !ok {
		return s.fail()
	}
	mark := len(s.binds)
	s.attrs = s.attrs[:0]
	empty := false
	for {
		p = s.skipSpace(p)
		c := s.at(p)
		if c == '>' {
			p++
			break
		}
		if c == '/' {
			if s.at(p+1) != '>' {
				return s.fail()
			}
			empty = true
			p += 2
			break
		}
		an, acolon, q, ok := s.scanName(p)
		if !ok {
			return s.fail()
		}
		q = s.skipSpace(q)
		if s.at(q) != '=' {
			return s.fail()
		}
		q = s.skipSpace(q + 1)
		quote := s.at(q)
		if quote != '"' && quote != '\'' {
			return s.fail()
		}
		k := bytes.IndexByte(s.b[q+1:], quote)
		if k < 0 {
			return s.fail()
		}
		raw := s.b[q+1 : q+1+k]
		plain, ok := checkText(raw, true)
		if !ok {
			return s.fail()
		}
		p = q + 1 + k + 1
		if s.nat++; len(s.attrs) >= s.lim.MaxAttrs || s.lim.MaxTags > 0 && s.nat > s.lim.MaxTags {
			return s.limit()
		}
		if len(s.attrs) >= scanMaxAttrs {
			return s.fail()
		}
		a := ScanAttr{Local: an, raw: raw, plain: plain}
		if acolon >= 0 {
			a.Prefix, a.Local = an[:acolon], an[acolon+1:]
		}
		for i := range s.attrs {
			if bytes.Equal(s.attrs[i].Prefix, a.Prefix) && bytes.Equal(s.attrs[i].Local, a.Local) {
				return s.fail()
			}
		}
		s.attrs = append(s.attrs, a)
		var prefix []byte
		switch {
		case acolon < 0 && string(an) == "xmlns":
		case acolon >= 0 && string(a.Prefix) == "xmlns":
			prefix = a.Local
			if string(prefix) == "xml" || string(prefix) == "xmlns" {
				return s.fail()
			}
		default:
			continue
		}
		if len(s.binds)-0 >= s.lim.maxNS() {
			return s.limit()
		}
		if len(s.binds) >= scanMaxNamespaces {
			return s.fail()
		}
		v := raw
		if !plain {
			v = appendText(nil, raw)
		}
		s.binds = append(s.binds, scanBinding{prefix: prefix, uri: string(v), space: spaceOf(v)})
	}
	// Resolve the element's prefix.
	var prefix, local []byte
	if colon >= 0 {
		prefix, local = qn[:colon], qn[colon+1:]
	} else {
		local = qn
	}
	sp, ok := s.lookup(prefix)
	if !ok {
		return s.fail()
	}
	s.qname, s.local, s.space = qn, local, sp
	s.stack = append(s.stack, scanFrame{qname: qn, mark: mark})
	s.p = p
	if empty {
		if s.tags++; s.lim.MaxTags > 0 && s.tags > s.lim.MaxTags {
			return s.limit()
		}
		s.pendEnd = true
	}
	return TokStart
}

func (s *Scanner) lookup(prefix []byte) (Space, bool) {
	for i := len(s.binds) - 1; i >= 0; i-- {
		if bytes.Equal(s.binds[i].prefix, prefix) {
			return s.binds[i].space, true
		}
	}
	return SpaceNone, len(prefix) == 0
}

func spaceOf(uri []byte) Space {
	switch string(uri) {
	case "":
		return SpaceNone
	case NSSoap:
		return SpaceSoap
	case NSMessages:
		return SpaceMessages
	case NSTypes:
		return SpaceTypes
	}
	return SpaceOther
}

// endTag reads an end tag at s.p, which must close the innermost element.
func (s *Scanner) endTag() bool {
	if len(s.stack) == 0 {
		s.fail()
		return false
	}
	top := s.stack[len(s.stack)-1].qname
	p := s.p + 2
	if !bytes.HasPrefix(s.b[p:], top) {
		s.fail()
		return false
	}
	p += len(top)
	if c := s.at(p); c < utf8.RuneSelf && nameClass[c] != 0 || c >= utf8.RuneSelf {
		s.fail() // a longer name
		return false
	}
	p = s.skipSpace(p)
	if s.at(p) != '>' {
		s.fail()
		return false
	}
	s.p = p + 1
	s.pop()
	return true
}

func (s *Scanner) pop() {
	f := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	s.binds = s.binds[:f.mark]
	if len(s.stack) == 0 {
		s.rootDone = true
	}
}

// xmlDecl reads the XML declaration at the start of the input. Only
// version 1.0 and UTF-8 are taken; anything else is left to Parse.
func (s *Scanner) xmlDecl() {
	end := bytes.Index(s.b, []byte("?>"))
	if end < 0 {
		s.fail()
		return
	}
	body := s.b[5:end]
	if len(body) == 0 || !isSpaceByte(body[0]) {
		s.fail()
		return
	}
	seen := 0
	for p := 0; ; {
		for p < len(body) && isSpaceByte(body[p]) {
			p++
		}
		if p == len(body) {
			break
		}
		eq := bytes.IndexByte(body[p:], '=')
		if eq < 0 || p+eq+1 >= len(body) {
			s.fail()
			return
		}
		name := body[p : p+eq]
		q := body[p+eq+1]
		if q != '"' && q != '\'' {
			s.fail()
			return
		}
		k := bytes.IndexByte(body[p+eq+2:], q)
		if k < 0 {
			s.fail()
			return
		}
		val := body[p+eq+2 : p+eq+2+k]
		ok := false
		switch {
		case string(name) == "version" && seen == 0:
			ok, seen = string(val) == "1.0", 1
		case string(name) == "encoding" && seen == 1:
			ok, seen = bytes.EqualFold(val, []byte("utf-8")), 2
		case string(name) == "standalone" && seen >= 1 && seen < 3:
			ok, seen = string(val) == "yes" || string(val) == "no", 3
		}
		if !ok {
			s.fail()
			return
		}
		p += eq + 2 + k + 1
		if p < len(body) && !isSpaceByte(body[p]) {
			s.fail()
			return
		}
	}
	if seen == 0 || bytes.Contains(body, []byte("&#")) || bytes.Contains(body, []byte(mimeMarker)) {
		s.fail()
		return
	}
	s.p = end + 2
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isWhite reports whether b is white space as etree's isWhitespace sees
// it.
func isWhite(b []byte) bool {
	for _, c := range b {
		if !isSpaceByte(c) {
			return false
		}
	}
	return true
}
