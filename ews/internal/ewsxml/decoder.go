package ewsxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/beevik/etree"
)

// charsetReader accepts the charsets EWS uses (UTF-8 and its ASCII
// subset) and refuses every other declared encoding, which Exchange never
// sends and which the decoders could only misread.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

// NewDecoder returns a strict xml.Decoder over r that applies the
// package's charset rule (UTF-8 only, as for Parse). Its tokens carry
// namespace URIs in Name.Space, which is what ReadElement expects.
func NewDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = charsetReader
	return d
}

// ReadElement reads, from a decoder made by NewDecoder, the content of the
// element that start opened, up to and including its end tag, and returns
// it as an etree element in the form Parse gives: every element's Space
// holds its namespace URI, so Is, FirstChild, Children, Text and Attr work
// on it as on a parsed document. Character data directly inside an element
// is kept as one CharData child, unless it is only white space; comments
// and processing instructions are dropped.
//
// The limits are those of Parse: opts.MaxDepth bounds nesting (start
// counting as depth 1) and opts.MaxTags, when positive, bounds the tags
// read (a start and an end tag each count, so an element counts twice).
// Input ending inside the element gives io.ErrUnexpectedEOF; errors of the
// underlying reader are returned as they are; anything else wraps
// ErrSyntax, ErrTooDeep or ErrTooManyTags.
func ReadElement(d *xml.Decoder, start xml.StartElement, opts ParseOptions) (*etree.Element, error) {
	maxDepth := opts.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	root := newElement(start)
	stack := make([]*etree.Element, 1, 16)
	stack[0] = root
	tags := 1
	var text []byte
	for len(stack) > 0 {
		tok, err := d.Token()
		if err != nil {
			var se *xml.SyntaxError
			switch {
			case err == io.EOF, errors.As(err, &se) && se.Msg == "unexpected EOF":
				return nil, io.ErrUnexpectedEOF
			case se != nil:
				return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("%w (limit %d)", ErrTooDeep, maxDepth)
			}
			tags++
			if opts.MaxTags > 0 && tags > opts.MaxTags {
				return nil, fmt.Errorf("%w: more than %d", ErrTooManyTags, opts.MaxTags)
			}
			top := stack[len(stack)-1]
			flushText(top, &text)
			c := newElement(t)
			top.AddChild(c)
			stack = append(stack, c)
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			tags++
			if opts.MaxTags > 0 && tags > opts.MaxTags {
				return nil, fmt.Errorf("%w: more than %d", ErrTooManyTags, opts.MaxTags)
			}
			flushText(stack[len(stack)-1], &text)
			stack = stack[:len(stack)-1]
		}
	}
	return root, nil
}

func newElement(t xml.StartElement) *etree.Element {
	e := etree.NewElement(t.Name.Local)
	e.Space = t.Name.Space
	if len(t.Attr) > 0 {
		e.Attr = make([]etree.Attr, len(t.Attr))
		for i, a := range t.Attr {
			e.Attr[i] = etree.Attr{Space: a.Name.Space, Key: a.Name.Local, Value: a.Value}
		}
	}
	return e
}

// flushText appends the pending character data to e as one CharData,
// unless it is only white space (the indentation between elements, which
// Text would trim away anyway).
func flushText(e *etree.Element, text *[]byte) {
	if len(bytes.TrimSpace(*text)) != 0 {
		e.AddChild(etree.NewText(string(*text)))
	}
	*text = (*text)[:0]
}

// Children yields e's child elements in document order without
// allocating. A nil e has none.
func Children(e *etree.Element) iter.Seq[*etree.Element] {
	return func(yield func(*etree.Element) bool) {
		if e == nil {
			return
		}
		for _, tok := range e.Child {
			if c, ok := tok.(*etree.Element); ok && !yield(c) {
				return
			}
		}
	}
}
