package ewstest

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// This file re-serialises a request in the ways the XML and SOAP schemas
// allow (other prefixes, default namespaces, other whitespace, with and
// without SOAP headers), so that msdocs_test.go can prove the fake accepts
// each form identically.

// requestVariant rewrites a parsed request envelope in place.
type requestVariant struct {
	name  string
	apply func(doc *etree.Document)
	// wire, when set, rewrites the serialised request.
	wire func(string) string
}

// requestVariants are the schema-equivalent forms every documented request
// is also sent in. The first is the request as Microsoft wrote it.
var requestVariants = []requestVariant{
	{"as-documented", func(*etree.Document) {}, nil},
	{"other-prefixes", renamePrefixes, nil},
	{"default-namespaces", defaultNamespaces, nil},
	{"whitespace-and-comments", reindent, nil},
	{"no-soap-header", func(doc *etree.Document) { setServerVersionHeader(doc, "") }, nil},
	{"version-Exchange2010_SP2", func(doc *etree.Document) { setServerVersionHeader(doc, "Exchange2010_SP2") }, nil},
	{"version-Exchange2013_SP1", func(doc *etree.Document) { setServerVersionHeader(doc, "Exchange2013_SP1") }, nil},
	{"version-Exchange2016", func(doc *etree.Document) { setServerVersionHeader(doc, "Exchange2016") }, nil},
	{"all-optional-headers", addOptionalHeaders, nil},
	// .NET clients (the EWS Managed API) write UTF-8 with a byte order mark.
	{"utf8-bom", func(*etree.Document) {}, func(s string) string { return "\ufeff" + s }},
}

// addOptionalHeaders sends every header the operation pages list besides
// RequestServerVersion: ExchangeImpersonation of the mailbox owner,
// MailboxCulture, TimeZoneContext and DateTimePrecision (the header set
// exchangelib and the EWS Managed API send).
func addOptionalHeaders(doc *etree.Document) {
	setServerVersionHeader(doc, "Exchange2013_SP1")
	env := doc.Root()
	var h *etree.Element
	for _, c := range env.ChildElements() {
		if c.Tag == "Header" {
			h = c
		}
	}
	add := func(local string) *etree.Element {
		e := h.CreateElement(local)
		e.CreateAttr("xmlns", nsT)
		return e
	}
	imp := add("ExchangeImpersonation")
	imp.CreateElement("ConnectingSID").CreateElement("PrimarySmtpAddress").SetText("alice@example.com")
	add("MailboxCulture").SetText("en-US")
	add("TimeZoneContext").CreateElement("TimeZoneDefinition").CreateAttr("Id", "W. Europe Standard Time")
	add("DateTimePrecision").SetText("Seconds")
}

// elementNamespaces records every element's namespace URI before
// declarations are rewritten.
func elementNamespaces(root *etree.Element) map[*etree.Element]string {
	out := map[*etree.Element]string{}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		out[e] = e.NamespaceURI()
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	return out
}

func dropNamespaceDecls(e *etree.Element) {
	kept := e.Attr[:0]
	for _, a := range e.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		kept = append(kept, a)
	}
	e.Attr = kept
	for _, c := range e.ChildElements() {
		dropNamespaceDecls(c)
	}
}

// renamePrefixes gives every namespace a prefix nobody uses in the
// examples, all declared once on the Envelope.
func renamePrefixes(doc *etree.Document) {
	root := doc.Root()
	nss := elementNamespaces(root)
	prefixes := map[string]string{nsSOAP11: "env", nsSOAP12: "env", nsM: "ews", nsT: "ewt"}
	dropNamespaceDecls(root)
	var decls []string
	declared := map[string]bool{}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		ns := nss[e]
		if ns == "" {
			e.Space = ""
		} else {
			p, ok := prefixes[ns]
			if !ok {
				p = fmt.Sprintf("x%d", len(prefixes))
				prefixes[ns] = p
			}
			e.Space = p
			if !declared[ns] {
				declared[ns] = true
				decls = append(decls, p, ns)
			}
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	for i := 0; i < len(decls); i += 2 {
		root.CreateAttr("xmlns:"+decls[i], decls[i+1])
	}
}

// defaultNamespaces writes every element without a prefix, declaring the
// default namespace wherever it changes.
func defaultNamespaces(doc *etree.Document) {
	root := doc.Root()
	nss := elementNamespaces(root)
	dropNamespaceDecls(root)
	var walk func(e *etree.Element, parentNS string, top bool)
	walk = func(e *etree.Element, parentNS string, top bool) {
		ns := nss[e]
		e.Space = ""
		if top || ns != parentNS {
			e.CreateAttr("xmlns", ns)
		}
		for _, c := range e.ChildElements() {
			walk(c, ns, false)
		}
	}
	walk(root, "", true)
}

// reindent drops the XML declaration, re-indents with tabs and CRLF line
// ends, and puts comments between elements.
func reindent(doc *etree.Document) {
	for _, t := range doc.Child {
		if p, ok := t.(*etree.ProcInst); ok && p.Target == "xml" {
			doc.RemoveChild(p)
			break
		}
	}
	root := doc.Root()
	var strip func(e *etree.Element)
	strip = func(e *etree.Element) {
		for _, t := range append([]etree.Token(nil), e.Child...) {
			if cd, ok := t.(*etree.CharData); ok && len(e.ChildElements()) > 0 && strings.TrimSpace(cd.Data) == "" {
				e.RemoveChild(cd)
			}
		}
		for _, c := range e.ChildElements() {
			strip(c)
		}
	}
	strip(root)
	var comment func(e *etree.Element)
	comment = func(e *etree.Element) {
		kids := e.ChildElements()
		for _, c := range kids {
			comment(c)
		}
		if len(kids) > 0 {
			e.InsertChildAt(0, etree.NewComment(" "+e.Tag+" "))
		}
	}
	comment(root)
	s := etree.NewIndentSettings()
	s.UseTabs = true
	s.UseCRLF = true
	s.PreserveLeafWhitespace = true
	doc.IndentWithSettings(s)
}

// setServerVersionHeader replaces the SOAP header by one holding only
// t:RequestServerVersion with the given version, or removes it when
// version is "".
func setServerVersionHeader(doc *etree.Document, version string) {
	env := doc.Root()
	soapNS := env.NamespaceURI()
	for _, c := range env.ChildElements() {
		if c.Tag == "Header" && c.NamespaceURI() == soapNS {
			env.RemoveChild(c)
		}
	}
	if version == "" {
		return
	}
	h := etree.NewElement("Header")
	h.CreateAttr("xmlns", soapNS)
	rsv := h.CreateElement("RequestServerVersion")
	rsv.CreateAttr("xmlns", nsT)
	rsv.CreateAttr("Version", version)
	env.InsertChildAt(0, h)
}
