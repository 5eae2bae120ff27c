package ewsxml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Namespace URIs used by EWS. They are http://, not https://, whatever some
// documentation pages print.
const (
	// NSSoap is the SOAP 1.1 envelope namespace.
	NSSoap = "http://schemas.xmlsoap.org/soap/envelope/"
	// NSMessages is the EWS messages namespace (prefix m: by convention).
	NSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	// NSTypes is the EWS types namespace (prefix t:, and h: on headers).
	NSTypes = "http://schemas.microsoft.com/exchange/services/2006/types"
	// NSErrors is the EWS errors namespace used inside SOAP fault details.
	NSErrors = "http://schemas.microsoft.com/exchange/services/2006/errors"
	// NSXML is the namespace bound to the reserved xml: prefix.
	NSXML = "http://www.w3.org/XML/1998/namespace"
)

// DefaultMaxDepth is the nesting depth Parse allows when ParseOptions.MaxDepth
// is zero. EWS responses nest about fifteen levels deep.
const DefaultMaxDepth = 128

// Errors returned by Parse. They are wrapped with detail; match them with
// errors.Is.
var (
	// ErrSyntax reports input that is not well-formed XML (including
	// truncated input and input that is not XML at all).
	ErrSyntax = errors.New("ewsxml: malformed XML")
	// ErrTooDeep reports input nested deeper than the allowed depth.
	ErrTooDeep = errors.New("ewsxml: XML nested too deeply")
	// ErrUndeclaredPrefix reports an element whose namespace prefix is not
	// bound by any enclosing xmlns declaration.
	ErrUndeclaredPrefix = errors.New("ewsxml: undeclared namespace prefix")
	// ErrNoRoot reports a document without a root element.
	ErrNoRoot = errors.New("ewsxml: document has no root element")
	// ErrTooManyTags reports input with more markup than allowed.
	ErrTooManyTags = errors.New("ewsxml: too many tags")
	// ErrTooManyNamespaces reports more than MaxNamespaces namespace
	// declarations in scope at once.
	ErrTooManyNamespaces = errors.New("ewsxml: too many namespace declarations in scope")
)

// MaxNamespaces bounds the namespace declarations in scope at any element,
// so that prefix lookups stay cheap whatever the input (real EWS messages
// have fewer than ten).
const MaxNamespaces = 64

// ParseOptions tunes Parse. The zero value is ready to use.
type ParseOptions struct {
	// MaxDepth is the deepest element nesting accepted. Zero means
	// DefaultMaxDepth.
	MaxDepth int
	// MaxTags bounds the number of '<' characters (start and end tags,
	// comments, ...) in the input, a self-closing tag counting twice, and
	// also the number of attributes, which bounds the memory the tree
	// takes whatever the input's shape. Zero means no limit. ParseBytes
	// checks it, DefaultMaxAttrs per element and MaxNamespaces in scope
	// before building anything (CheckLimits).
	MaxTags int
}

// Parse reads one XML document from r and resolves every element's
// namespace: on return, each element's Space holds the namespace URI it is
// bound to ("" for none) instead of its prefix. The document must have a
// root element, and may declare no encoding but UTF-8 (or ASCII). Errors wrap ErrSyntax, ErrTooDeep, ErrTooManyTags,
// ErrTooManyNamespaces, ErrUndeclaredPrefix or ErrNoRoot; read errors are returned as they are.
func Parse(r io.Reader, opts ParseOptions) (*etree.Document, error) {
	if opts.MaxTags > 0 {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return ParseBytes(b, opts)
	}
	return parse(r, opts)
}

func parse(r io.Reader, opts ParseOptions) (*etree.Document, error) {
	depth := opts.MaxDepth
	if depth <= 0 {
		depth = DefaultMaxDepth
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = depth
	doc.ReadSettings.CharsetReader = charsetReader
	if _, err := doc.ReadFrom(r); err != nil {
		if errors.Is(err, etree.ErrMaxDepth) {
			return nil, fmt.Errorf("%w (limit %d)", ErrTooDeep, depth)
		}
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	// Character data or a second element at top level is not a document.
	root := doc.Root()
	for _, tok := range doc.Child {
		switch t := tok.(type) {
		case *etree.Element:
			if t != root {
				return nil, fmt.Errorf("%w: more than one root element", ErrSyntax)
			}
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, fmt.Errorf("%w: text outside the root element", ErrSyntax)
			}
		}
	}
	if root == nil {
		return nil, ErrNoRoot
	}
	if err := resolve(root, make([]binding, 0, 16)); err != nil {
		return nil, err
	}
	return doc, nil
}

// ParseBytes is Parse over a byte slice. Unlike Parse over a reader, it
// tolerates numeric character references to characters XML 1.0 forbids
// (such as &#x1A; or &#x0;), which it reads as U+FFFD: Exchange writes them
// for control characters stored in a property (a Subject with 0x1A), and
// refusing them would fail the whole response, so one such message would
// stop a folder's sync for good.
func ParseBytes(b []byte, opts ParseOptions) (*etree.Document, error) {
	if err := CheckLimits(b, Limits{MaxTags: opts.MaxTags, MaxDepth: opts.MaxDepth}); err != nil { // scan_limits.go
		return nil, err
	}
	return parse(bytes.NewReader(replaceBadCharRefs(b)), opts)
}

// replaceBadCharRefs returns b with every numeric character reference to a
// character outside XML 1.0's Char production replaced by &#xFFFD;. It
// returns b itself when there is none.
func replaceBadCharRefs(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte("&#"))
		if k < 0 {
			break
		}
		i += k + 2
		base, start := 10, i
		if i < len(b) && b[i] == 'x' {
			base, start = 16, i+1
		}
		end := start
		for end < len(b) && end-start < 16 && isDigit(b[end], base) {
			end++
		}
		if end == start || end >= len(b) || b[end] != ';' {
			continue // not a complete reference: the parser judges it
		}
		n, err := strconv.ParseUint(string(b[start:end]), base, 32)
		if err == nil && isXMLChar(n) {
			continue
		}
		out = append(out, b[last:i-2]...)
		out = append(out, "&#xFFFD;"...)
		last, i = end+1, end+1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func isDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return true
	case base == 16:
		return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	return false
}

// isXMLChar reports whether n is in XML 1.0's Char production.
func isXMLChar(n uint64) bool {
	return n == 0x9 || n == 0xA || n == 0xD ||
		n >= 0x20 && n <= 0xD7FF ||
		n >= 0xE000 && n <= 0xFFFD ||
		n >= 0x10000 && n <= 0x10FFFF
}

type binding struct {
	prefix, uri string
}

// resolve rewrites e.Space (and its descendants') from prefix to URI. The
// recursion depth is bounded by ParseOptions.MaxDepth, checked while
// reading.
func resolve(e *etree.Element, scope []binding) error {
	for _, a := range e.Attr {
		switch {
		case a.Space == "xmlns":
			scope = append(scope, binding{a.Key, a.Value})
		case a.Space == "" && a.Key == "xmlns":
			scope = append(scope, binding{"", a.Value})
		default:
			continue
		}
		if len(scope) > MaxNamespaces {
			return fmt.Errorf("%w (limit %d)", ErrTooManyNamespaces, MaxNamespaces)
		}
	}
	if strings.IndexByte(e.Tag, ':') >= 0 || e.Tag == "" {
		return fmt.Errorf("%w: invalid element name %q", ErrSyntax, e.Space+":"+e.Tag)
	}
	uri, ok := lookup(scope, e.Space)
	if !ok {
		return fmt.Errorf("%w %q on element %q", ErrUndeclaredPrefix, e.Space, e.Tag)
	}
	e.Space = uri
	for _, tok := range e.Child {
		if c, ok := tok.(*etree.Element); ok {
			if err := resolve(c, scope); err != nil {
				return err
			}
		}
	}
	return nil
}

func lookup(scope []binding, prefix string) (string, bool) {
	for i := len(scope) - 1; i >= 0; i-- {
		if scope[i].prefix == prefix {
			return scope[i].uri, true
		}
	}
	switch prefix {
	case "":
		return "", true
	case "xml":
		return NSXML, true
	}
	return "", false
}

// Is reports whether e (from a Parse-resolved tree) has namespace URI ns and
// local name local. A nil e is never a match.
func Is(e *etree.Element, ns, local string) bool {
	return e != nil && e.Tag == local && e.Space == ns
}

// ChildElements returns e's child elements in document order. It allocates
// a slice; hot loops should range over e.Child directly.
func ChildElements(e *etree.Element) []*etree.Element {
	var out []*etree.Element
	for _, tok := range e.Child {
		if c, ok := tok.(*etree.Element); ok {
			out = append(out, c)
		}
	}
	return out
}

// FirstChild returns e's first child element with namespace URI ns and
// local name local, or nil.
func FirstChild(e *etree.Element, ns, local string) *etree.Element {
	if e == nil {
		return nil
	}
	for _, tok := range e.Child {
		if c, ok := tok.(*etree.Element); ok && c.Tag == local && c.Space == ns {
			return c
		}
	}
	return nil
}

// Text returns the character data directly inside e with surrounding
// white space trimmed. A nil e has no text.
func Text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

// Attr returns the value of e's attribute named key without a prefix, or "".
func Attr(e *etree.Element, key string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attr {
		if a.Key == key && a.Space == "" {
			return a.Value
		}
	}
	return ""
}

// LocalName returns the part of a QName value after its colon, e.g.
// "ErrorServerBusy" for "a:ErrorServerBusy".
func LocalName(qname string) string {
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// Envelope is a request envelope under construction.
type Envelope struct {
	// Doc is the whole document, including the XML declaration.
	Doc *etree.Document
	// Header is the soap:Header element.
	Header *etree.Element
	// Body is the soap:Body element.
	Body *etree.Element
}

// NewEnvelope returns a SOAP 1.1 envelope that binds soap:, m: and t: to
// NSSoap, NSMessages and NSTypes, with empty Header and Body elements.
// Elements added below should use those prefixes.
func NewEnvelope() *Envelope {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	env := doc.CreateElement("soap:Envelope")
	env.CreateAttr("xmlns:soap", NSSoap)
	env.CreateAttr("xmlns:m", NSMessages)
	env.CreateAttr("xmlns:t", NSTypes)
	return &Envelope{Doc: doc, Header: env.CreateElement("soap:Header"), Body: env.CreateElement("soap:Body")}
}

// AddText appends a child element named tag (with prefix) holding text to
// parent and returns it.
func AddText(parent *etree.Element, tag, text string) *etree.Element {
	c := parent.CreateElement(tag)
	c.SetText(text)
	return c
}

// Write serialises doc to w without indentation. The output depends only on
// the tree, so it can be compared byte-for-byte with golden files.
func Write(w io.Writer, doc *etree.Document) error {
	_, err := doc.WriteTo(w)
	return err
}
