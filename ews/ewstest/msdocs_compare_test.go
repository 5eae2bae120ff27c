package ewstest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// This file holds the structural comparator of the Microsoft-documented
// conformance suite (msdocs_test.go): it compares a response of the fake
// with Microsoft's documented response example by element local names,
// namespace URIs and order, ignoring prefixes, ids, values, attributes and
// whitespace.

// qname is an element's identity: namespace URI and local name.
type qname struct{ ns, local string }

func (q qname) String() string {
	switch q.ns {
	case nsM:
		return "m:" + q.local
	case nsT:
		return "t:" + q.local
	case nsSOAP11, nsSOAP12:
		return "soap:" + q.local
	case "":
		return q.local
	}
	return "{" + q.ns + "}" + q.local
}

func qnameOf(el *etree.Element) qname { return qname{ns: el.NamespaceURI(), local: el.Tag} }

// parseQName reads "m:Name", "t:Name" or "soap:Name".
func parseQName(s string) qname {
	p, local, ok := strings.Cut(s, ":")
	if !ok {
		return qname{local: s}
	}
	switch p {
	case "m":
		return qname{nsM, local}
	case "t":
		return qname{nsT, local}
	case "soap":
		return qname{nsSOAP11, local}
	}
	return qname{p, local}
}

// shapeRules say which parts of a comparison depend on data.
type shapeRules struct {
	// mayDiffer names elements whose presence depends on the data (or on
	// the server version): they are dropped from both sides wherever they
	// appear.
	mayDiffer map[qname]bool
	// emptyOK names collection containers that may be empty in the
	// response although the example shows members.
	emptyOK map[qname]bool
}

func newShapeRules(mayDiffer, emptyOK []string) shapeRules {
	r := shapeRules{mayDiffer: map[qname]bool{}, emptyOK: map[qname]bool{}}
	for _, s := range mayDiffer {
		r.mayDiffer[parseQName(s)] = true
	}
	for _, s := range emptyOK {
		r.emptyOK[parseQName(s)] = true
	}
	return r
}

// opaque elements carry content (HTML bodies, MIME) that is not EWS
// structure: their children are not compared. Microsoft's GetItem example
// shows an HTML body as raw markup, which real Exchange escapes.
var opaque = map[qname]bool{
	{nsT, "Body"}: true, {nsT, "MimeContent"}: true, {nsT, "UniqueBody"}: true, {nsT, "TextBody"}: true,
}

// collections hold members whose kind and number depend on the data
// (items of several classes, change kinds): every member of the response
// must match a member of the same name in the example, in any order.
var collections = map[qname]bool{
	{nsM, "Changes"}: true, {nsM, "Items"}: true, {nsT, "Items"}: true, {nsM, "Folders"}: true, {nsT, "Folders"}: true,
}

// compareShape compares the element trees want (Microsoft's example) and
// got (the fake's response) and returns the differences as readable
// paths; nil means the same structure.
func compareShape(want, got *etree.Element, rules shapeRules) []string {
	var diffs []string
	compareEl(want, got, qnameOf(want).String(), rules, &diffs)
	return diffs
}

func compareEl(want, got *etree.Element, path string, rules shapeRules, diffs *[]string) {
	wq, gq := qnameOf(want), qnameOf(got)
	if wq != gq {
		*diffs = append(*diffs, fmt.Sprintf("%s: want element %s, got %s", path, wq, gq))
		return
	}
	if opaque[wq] {
		return
	}
	wk := keptChildren(want, rules)
	gk := keptChildren(got, rules)
	if collections[wq] {
		compareCollection(wk, gk, path, rules, diffs)
		return
	}
	wr, gr := runs(wk), runs(gk)
	n := min(len(wr), len(gr))
	for i := 0; i < n; i++ {
		if qnameOf(wr[i][0]) != qnameOf(gr[i][0]) {
			*diffs = append(*diffs, fmt.Sprintf("%s: child %d: want %s, got %s (want children %s; got %s)",
				path, i, qnameOf(wr[i][0]), qnameOf(gr[i][0]), runNames(wr), runNames(gr)))
			return
		}
		for _, g := range gr[i] {
			compareEl(wr[i][0], g, path+"/"+qnameOf(g).String(), rules, diffs)
		}
	}
	if len(wr) != len(gr) {
		*diffs = append(*diffs, fmt.Sprintf("%s: want children %s; got %s", path, runNames(wr), runNames(gr)))
	}
}

func compareCollection(want, got []*etree.Element, path string, rules shapeRules, diffs *[]string) {
	if len(want) > 0 && len(got) == 0 && !rules.emptyOK[qnameOf(want[0].Parent())] {
		*diffs = append(*diffs, fmt.Sprintf("%s: empty, want members like %s", path, qnameOf(want[0])))
		return
	}
	for _, g := range got {
		// Among the example's members of the same name (a Create holding a
		// Folder, another holding a CalendarFolder), the one that matches
		// best is the template.
		var best []string
		found := false
		for _, w := range want {
			if qnameOf(w) != qnameOf(g) {
				continue
			}
			var d []string
			compareEl(w, g, path+"/"+qnameOf(g).String(), rules, &d)
			if !found || len(d) < len(best) {
				best, found = d, true
			}
			if len(d) == 0 {
				break
			}
		}
		if !found {
			*diffs = append(*diffs, fmt.Sprintf("%s: member %s is not in the example (example members: %s)",
				path, qnameOf(g), runNames(runs(want))))
			continue
		}
		*diffs = append(*diffs, best...)
	}
}

func keptChildren(el *etree.Element, rules shapeRules) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if !rules.mayDiffer[qnameOf(c)] {
			out = append(out, c)
		}
	}
	return out
}

// runs groups consecutive siblings of the same name: a repeated element
// (two messages in the example, five in the response) is one position.
func runs(els []*etree.Element) [][]*etree.Element {
	var out [][]*etree.Element
	for _, e := range els {
		if n := len(out); n > 0 && qnameOf(out[n-1][0]) == qnameOf(e) {
			out[n-1] = append(out[n-1], e)
			continue
		}
		out = append(out, []*etree.Element{e})
	}
	return out
}

func runNames(rs [][]*etree.Element) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = qnameOf(r[0]).String()
		if len(r) > 1 {
			names[i] += "+"
		}
	}
	return "[" + strings.Join(names, " ") + "]"
}

// findAll returns the descendants of el (el included) with the given
// namespace and local name, in document order.
func findAll(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		if e.Tag == local && e.NamespaceURI() == ns {
			out = append(out, e)
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(el)
	return out
}

// firstText returns the trimmed text of the first descendant named
// ns/local, or "".
func firstText(el *etree.Element, ns, local string) string {
	if all := findAll(el, ns, local); len(all) > 0 {
		return strings.TrimSpace(all[0].Text())
	}
	return ""
}

// TestCompareShape checks the comparator on small documents: it ignores
// prefixes, values and whitespace, and reports order, missing, extra and
// unknown members.
func TestCompareShape(t *testing.T) {
	const want = `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code>x</m:Code><m:Items><t:Message><t:ItemId Id="1"/><t:Subject>s</t:Subject></t:Message><t:Message><t:ItemId Id="2"/></t:Message></m:Items><t:Body><b>html</b></t:Body></m:R>`
	cases := []struct {
		name, got string
		mayDiffer []string
		wantDiff  string // substring of the first difference; "" for none
	}{
		{"same with other prefixes and values", `<a:R xmlns:a="` + nsM + `" xmlns:b="` + nsT + `">
			<a:Code>y</a:Code><a:Items><b:Message><b:ItemId Id="9"/><b:Subject>z</b:Subject></b:Message></a:Items><b:Body>escaped</b:Body></a:R>`, nil, ""},
		{"more repeated members", `<R xmlns="` + nsM + `"><Code/><Items><Message xmlns="` + nsT + `"><ItemId/><Subject/></Message><Message xmlns="` + nsT + `"><ItemId/><Subject/></Message><Message xmlns="` + nsT + `"><ItemId/><Subject/></Message></Items><Body xmlns="` + nsT + `"/></R>`, nil, ""},
		{"swapped order", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code/><m:Items><t:Message><t:Subject/><t:ItemId/></t:Message></m:Items><t:Body/></m:R>`, nil, "want t:ItemId, got t:Subject"},
		{"missing element", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code/><m:Items><t:Message><t:ItemId/></t:Message></m:Items></m:R>`, nil, "want children [m:Code m:Items t:Body]; got [m:Code m:Items]"},
		{"extra element", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code/><m:Items><t:Message><t:ItemId/><t:Subject/><t:Size/></t:Message></m:Items><t:Body/></m:R>`, nil, "got [t:ItemId t:Subject t:Size]"},
		{"extra element allowed", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code/><m:Items><t:Message><t:ItemId/><t:Size/><t:Subject/></t:Message></m:Items><t:Body/></m:R>`, []string{"t:Size"}, ""},
		{"wrong namespace", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><t:Code/><m:Items/><t:Body/></m:R>`, nil, "want m:Code, got t:Code"},
		{"unknown collection member", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code/><m:Items><t:Contact><t:ItemId/></t:Contact></m:Items><t:Body/></m:R>`, nil, "member t:Contact is not in the example"},
		{"second template of the same name", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code/><m:Items><t:Message><t:ItemId/><t:Subject/></t:Message><t:Message><t:ItemId/></t:Message></m:Items><t:Body/></m:R>`, nil, ""},
		{"empty collection", `<m:R xmlns:m="` + nsM + `" xmlns:t="` + nsT + `"><m:Code/><m:Items/><t:Body/></m:R>`, nil, "empty, want members like t:Message"},
	}
	w := etree.NewDocument()
	if err := w.ReadFromString(want); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := etree.NewDocument()
			if err := g.ReadFromString(c.got); err != nil {
				t.Fatal(err)
			}
			diffs := compareShape(w.Root(), g.Root(), newShapeRules(c.mayDiffer, nil))
			switch {
			case c.wantDiff == "" && len(diffs) > 0:
				t.Errorf("unexpected differences: %v", diffs)
			case c.wantDiff != "" && (len(diffs) == 0 || !strings.Contains(diffs[0], c.wantDiff)):
				t.Errorf("differences %v, want one containing %q", diffs, c.wantDiff)
			}
		})
	}
}
