package ewsxml

import (
	"bytes"
	"errors"
	"fmt"
)

// DefaultMaxAttrs bounds the attributes of one element when Limits.MaxAttrs
// is zero. EWS elements carry at most about ten (ServerVersionInfo with
// its namespace declarations).
const DefaultMaxAttrs = 64

// ErrTooManyAttributes reports an element with more than Limits.MaxAttrs
// attributes, or a document with more attributes in all than
// Limits.MaxTags.
var ErrTooManyAttributes = errors.New("ewsxml: too many attributes")

// Limits bounds what a document may cost once parsed; CheckLimits and the
// Scanner check them while reading the bytes, before anything is built.
type Limits struct {
	// MaxTags bounds the markup: the '<' characters of the document plus
	// one for each self-closing tag (which stands for a start and an end
	// tag), and also the number of attributes in all. Zero means no
	// limit.
	MaxTags int
	// MaxAttrs bounds the attributes (namespace declarations included)
	// of one element. Zero means DefaultMaxAttrs.
	MaxAttrs int
	// MaxDepth bounds element nesting (the root is depth 1). Zero means
	// DefaultMaxDepth.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultMaxAttrs
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// maxNS is the bound on namespace declarations in scope (MaxNamespaces,
// which Parse also checks once the tree is built).
func (Limits) maxNS() int { return MaxNamespaces }

// CheckLimits scans b as encoding/xml tokenizes it, without building
// anything, and returns an error wrapping ErrTooManyTags,
// ErrTooManyAttributes, ErrTooManyNamespaces (more than MaxNamespaces
// declarations in scope) or ErrTooDeep when b exceeds l. Malformed input
// it stops reading at is not its concern: the parser fails at the same
// place, having read no more than CheckLimits checked. It allocates only
// a stack of l.MaxDepth counters.
func CheckLimits(b []byte, l Limits) error {
	l = l.withDefaults()
	if l.MaxTags > 0 {
		if tags := bytes.Count(b, []byte{'<'}); tags > l.MaxTags {
			return fmt.Errorf("%w: %d tags, limit %d", ErrTooManyTags, tags, l.MaxTags)
		}
	}
	return newLimitState(l, false).feed(b) // limits.go
}

// isXMLNameByte is encoding/xml's name byte test, with every non-ASCII
// byte taken as it takes them.
func isXMLNameByte(c byte) bool {
	return nameClass[c] != nameNone
}
