package ewsxml

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParse_ResolvesNamespacesNotPrefixes(t *testing.T) {
	// The same message with three prefix conventions.
	for _, doc := range []string{
		`<s:Envelope xmlns:s="` + NSSoap + `"><s:Body><m:R xmlns:m="` + NSMessages + `" xmlns:t="` + NSTypes + `"><t:X/></m:R></s:Body></s:Envelope>`,
		`<Envelope xmlns="` + NSSoap + `"><Body><R xmlns="` + NSMessages + `"><X xmlns="` + NSTypes + `"/></R></Body></Envelope>`,
		`<soap:Envelope xmlns:soap="` + NSSoap + `" xmlns:a="` + NSMessages + `" xmlns:b="` + NSTypes + `"><soap:Body><a:R><b:X/></a:R></soap:Body></soap:Envelope>`,
	} {
		d, err := ParseBytes([]byte(doc), ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		env := d.Root()
		body := FirstChild(env, NSSoap, "Body")
		r := FirstChild(body, NSMessages, "R")
		if !Is(env, NSSoap, "Envelope") || r == nil || FirstChild(r, NSTypes, "X") == nil {
			t.Errorf("%s: namespaces not resolved", doc)
		}
		if FirstChild(r, NSMessages, "X") != nil {
			t.Errorf("%s: X matched the wrong namespace", doc)
		}
	}
}

func TestParse_ScopesEndWithTheirElement(t *testing.T) {
	d, err := ParseBytes([]byte(`<a xmlns:p="urn:one"><b xmlns:p="urn:two"><p:c/></b><p:d/></a>`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := ChildElements(d.Root())
	if len(b) != 2 || !Is(ChildElements(b[0])[0], "urn:two", "c") || !Is(b[1], "urn:one", "d") {
		t.Fatalf("scoping wrong: %+v", b)
	}
}

func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		opts ParseOptions
		want error
	}{
		{"", ParseOptions{}, ErrNoRoot},
		{"   ", ParseOptions{}, ErrNoRoot},
		{"<a><b></a>", ParseOptions{}, ErrSyntax},
		{"<a>", ParseOptions{}, ErrSyntax},
		{"not xml at all", ParseOptions{}, ErrSyntax},
		{"<a/><b/>", ParseOptions{}, ErrSyntax},
		{"<a/>trailing", ParseOptions{}, ErrSyntax},
		{"<p:a/>", ParseOptions{}, ErrUndeclaredPrefix},
		{`<a xmlns:p="u"/><p:b/>`, ParseOptions{}, ErrSyntax},
		{strings.Repeat("<a>", 10) + strings.Repeat("</a>", 10), ParseOptions{MaxDepth: 5}, ErrTooDeep},
		{strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200), ParseOptions{}, ErrTooDeep},
		{"<a>" + strings.Repeat("<b/>", 100) + "</a>", ParseOptions{MaxTags: 100}, ErrTooManyTags},
		{"<a" + manyNS(65) + "><b/></a>", ParseOptions{}, ErrTooManyNamespaces},
		{strings.Repeat(`<a xmlns="u">`, 65) + strings.Repeat("</a>", 65), ParseOptions{}, ErrTooManyNamespaces},
	} {
		_, err := ParseBytes([]byte(tc.in), tc.opts)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseBytes(%.40q) err = %v, want %v", tc.in, err, tc.want)
		}
		_, err = Parse(strings.NewReader(tc.in), tc.opts)
		if !errors.Is(err, tc.want) {
			t.Errorf("Parse(%.40q) err = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestParse_XMLPrefixAndText(t *testing.T) {
	d, err := ParseBytes([]byte(`<a xml:lang="en">  hi &amp; bye  <b/></a>`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if Text(d.Root()) != "hi & bye" || Attr(d.Root(), "lang") != "" || Text(nil) != "" || Attr(nil, "x") != "" {
		t.Fatalf("text %q", Text(d.Root()))
	}
	if LocalName("a:ErrorServerBusy") != "ErrorServerBusy" || LocalName("Plain") != "Plain" {
		t.Fatal("LocalName")
	}
}

func TestEnvelope_WriteIsDeterministicAndParsesBack(t *testing.T) {
	build := func() []byte {
		env := NewEnvelope()
		env.Header.CreateElement("t:RequestServerVersion").CreateAttr("Version", "Exchange2013")
		op := env.Body.CreateElement("m:GetFolder")
		AddText(op, "m:SyncState", `a<b&"c"`)
		var buf bytes.Buffer
		if err := Write(&buf, env.Doc); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := build(), build()
	if !bytes.Equal(a, b) {
		t.Fatal("output differs between runs")
	}
	want := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header><soap:Body><m:GetFolder><m:SyncState>a&lt;b&amp;&quot;c&quot;</m:SyncState></m:GetFolder></soap:Body></soap:Envelope>`
	if string(a) != want {
		t.Fatalf("got  %s\nwant %s", a, want)
	}
	d, err := ParseBytes(a, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := FirstChild(FirstChild(FirstChild(d.Root(), NSSoap, "Body"), NSMessages, "GetFolder"), NSMessages, "SyncState")
	if Text(st) != `a<b&"c"` {
		t.Fatalf("round trip text %q", Text(st))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<s:Envelope xmlns:s="` + NSSoap + `"><s:Body/></s:Envelope>`))
	f.Add([]byte(`<a xmlns="u"><b xmlns:p="v"><p:c/></b></a>`))
	f.Add([]byte(`<p:a/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseBytes(b, ParseOptions{MaxDepth: 64})
		if err != nil {
			return
		}
		// Every element of a parsed tree is resolved: no prefix is left
		// that is not a bound URI, and walking it terminates.
		stack := ChildElements(&d.Element)
		for len(stack) > 0 {
			e := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if strings.Contains(e.Tag, ":") {
				t.Fatalf("tag %q kept a prefix", e.Tag)
			}
			stack = append(stack, ChildElements(e)...)
		}
	})
}

func manyNS(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="urn:%d"`, i, i)
	}
	return b.String()
}
