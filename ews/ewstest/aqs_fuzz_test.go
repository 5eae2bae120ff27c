package ewstest

import (
	"testing"
	"time"

	"github.com/beevik/etree"
)

// FuzzAQS checks that no query string panics or loops: every input
// compiles to a predicate or a typed error, and the predicate runs.
func FuzzAQS(f *testing.F) {
	for _, s := range []string{"", "report", `"a b"`, "subject:(x OR y) -from:z", "received:2025-01-01..2025-02-01",
		"size:>4kb", "((", "NOT", "-", ":", "a:", "isread:", `subject:"`, "kind:email AND NOT (x)", "to:\x00"} {
		f.Add(s)
	}
	it := &item{id: "x", folder: &folder{}, msg: testMessage("fuzz subject")}
	it.msg.normalize(time.Unix(1_700_000_000, 0), 1)
	f.Fuzz(func(t *testing.T, q string) {
		pred, err := compileAQS(q, time.Unix(1_700_000_000, 0))
		if err != nil {
			if ResponseCode(err) == "" {
				t.Fatalf("%q: untyped error %v", q, err)
			}
			return
		}
		pred(it)
	})
}

// FuzzRestriction checks that no search expression panics: every
// element tree compiles to a predicate or a typed error, and the
// predicate runs on a message and a calendar item.
func FuzzRestriction(f *testing.F) {
	for _, s := range []string{
		`<Contains ContainmentMode="PrefixOnWords"><FieldURI FieldURI="item:Subject"/><Constant Value="fu"/></Contains>`,
		`<And><Not><Exists><FieldURI FieldURI="item:Categories"/></Exists></Not><IsGreaterThan><FieldURI FieldURI="item:Size"/><FieldURIOrConstant><Constant Value="10"/></FieldURIOrConstant></IsGreaterThan></And>`,
		`<IsEqualTo><FieldURI FieldURI="message:From"/><FieldURIOrConstant><FieldURI FieldURI="calendar:Start"/></FieldURIOrConstant></IsEqualTo>`,
		`<Excludes><ExtendedFieldURI PropertyTag="0x0E07" PropertyType="Integer"/><Bitmask Value="1"/></Excludes>`,
		`<IsLessThan><IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"/><FieldURIOrConstant><Constant Value="m"/></FieldURIOrConstant></IsLessThan>`,
	} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	mail := &item{id: "x", folder: &folder{}, msg: testMessage("fuzz subject")}
	mail.msg.normalize(now, 1)
	cal := &item{id: "y", folder: &folder{}, msg: Message{Subject: "meet"}}
	calEl := etree.NewDocument()
	if err := calEl.ReadFromString(`<CalendarItem><Start>2025-01-01T00:00:00Z</Start><End>2025-01-01T01:00:00Z</End></CalendarItem>`); err != nil {
		f.Fatal(err)
	}
	if err := parseBag(&cal.msg, calEl.Root()); err != nil {
		f.Fatal(err)
	}
	cal.msg.normalize(now, 2)
	f.Fuzz(func(t *testing.T, x string) {
		doc := etree.NewDocument()
		if doc.ReadFromString(x) != nil || doc.Root() == nil {
			return
		}
		// Put every element in the types namespace, as requests do.
		var setNS func(*etree.Element)
		setNS = func(e *etree.Element) {
			e.Space = "t"
			for _, c := range e.ChildElements() {
				setNS(c)
			}
		}
		root := etree.NewDocument()
		wrap := root.CreateElement("Restriction")
		wrap.CreateAttr("xmlns:t", nsT)
		wrap.AddChild(doc.Root())
		setNS(wrap.ChildElements()[0])
		pred, err := compileRestriction(wrap.ChildElements()[0])
		if err != nil {
			if ResponseCode(err) == "" {
				t.Fatalf("%q: untyped error %v", x, err)
			}
			return
		}
		pred(mail)
		pred(cal)
	})
}
