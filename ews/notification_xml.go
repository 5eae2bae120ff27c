package ews

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespace URIs the notification decoders match on. Elements are matched
// by namespace URI and local name, never by prefix.
const (
	ntfNSSoap     = "http://schemas.xmlsoap.org/soap/envelope/"
	ntfNSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	ntfNSTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	ntfNSErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// Limits that keep a hostile or broken peer from exhausting memory or
// stack while a notification message is decoded.
const (
	// ntfMaxDepth bounds element nesting inside one SOAP envelope. Real
	// notification envelopes nest about ten levels deep.
	ntfMaxDepth = 64
	// ntfMaxNodes bounds the number of elements in one envelope. 50 events
	// per notification and up to 200 notifications per streaming envelope
	// stay far below it.
	ntfMaxNodes = 200_000
	// ntfMaxMessageBytes bounds the encoded size of one SOAP envelope (or
	// one push body). Exchange puts at most 50 events in a notification.
	ntfMaxMessageBytes = 32 << 20
)

// xnode is a minimal element tree built from encoding/xml tokens, with
// namespace URIs already resolved by the decoder.
type xnode struct {
	space, local string
	attrs        []xml.Attr
	text         string
	children     []*xnode
}

// is reports whether n has namespace URI space and local name local.
func (n *xnode) is(space, local string) bool {
	return n != nil && n.local == local && n.space == space
}

// child returns the first child with the given namespace and local name.
func (n *xnode) child(space, local string) *xnode {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.local == local && c.space == space {
			return c
		}
	}
	return nil
}

// childAny returns the first child whose local name is local and whose
// namespace is one of spaces.
func (n *xnode) childAny(local string, spaces ...string) *xnode {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.local != local {
			continue
		}
		for _, s := range spaces {
			if c.space == s {
				return c
			}
		}
	}
	return nil
}

// attr returns the value of the unqualified attribute name.
func (n *xnode) attr(name string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// trimmed returns the element's character data without surrounding
// white space.
func (n *xnode) trimmed() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.text)
}

// ntfBuilder builds xnode trees from a decoder and enforces the limits.
type ntfBuilder struct {
	dec   *xml.Decoder
	nodes int
}

// newNtfDecoder returns an xml.Decoder configured for EWS messages: strict,
// and refusing any declared charset other than UTF-8 (EWS always sends
// UTF-8).
func newNtfDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return input, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	return d
}

// build reads the content of the element that start opened, up to and
// including its end tag, and returns it as a tree.
func (b *ntfBuilder) build(start xml.StartElement) (*xnode, error) {
	b.nodes = 0
	start0 := b.dec.InputOffset()
	root := &xnode{space: start.Name.Space, local: start.Name.Local, attrs: start.Attr}
	stack := make([]*xnode, 1, 16)
	stack[0] = root
	var text strings.Builder
	for len(stack) > 0 {
		tok, err := b.dec.Token()
		if err != nil {
			var se *xml.SyntaxError
			if err == io.EOF || errors.As(err, &se) && se.Msg == "unexpected EOF" {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if b.dec.InputOffset()-start0 > ntfMaxMessageBytes {
			return nil, fmt.Errorf("message larger than %d bytes", ntfMaxMessageBytes)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= ntfMaxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", ntfMaxDepth)
			}
			b.nodes++
			if b.nodes > ntfMaxNodes {
				return nil, fmt.Errorf("more than %d elements in one message", ntfMaxNodes)
			}
			n := &xnode{space: t.Name.Space, local: t.Name.Local, attrs: t.Attr}
			top := stack[len(stack)-1]
			top.children = append(top.children, n)
			stack = append(stack, n)
			text.Reset()
		case xml.CharData:
			// Only leaf text matters to EWS; text of mixed content is
			// white space between elements.
			text.Write(t)
		case xml.EndElement:
			top := stack[len(stack)-1]
			if len(top.children) == 0 {
				top.text = text.String()
			}
			text.Reset()
			stack = stack[:len(stack)-1]
		}
	}
	return root, nil
}

// parseNtfDocument reads one whole XML document and returns its root
// element.
func parseNtfDocument(r io.Reader) (*xnode, error) {
	b := ntfBuilder{dec: newNtfDecoder(r)}
	for {
		tok, err := b.dec.Token()
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("no root element")
			}
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			root, err := b.build(se)
			if err != nil {
				return nil, err
			}
			// Anything but white space, comments and processing
			// instructions after the root is malformed.
			for {
				tok, err := b.dec.Token()
				if err == io.EOF {
					return root, nil
				}
				if err != nil {
					return nil, err
				}
				switch t := tok.(type) {
				case xml.CharData:
					if len(strings.TrimSpace(string(t))) != 0 {
						return nil, fmt.Errorf("text after the root element")
					}
				case xml.StartElement:
					return nil, fmt.Errorf("second root element <%s>", t.Name.Local)
				}
			}
		}
		if cd, ok := tok.(xml.CharData); ok && len(strings.TrimSpace(string(cd))) != 0 {
			return nil, fmt.Errorf("text before the root element")
		}
	}
}
