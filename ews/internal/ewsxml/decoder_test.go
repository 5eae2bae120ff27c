package ewsxml

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// readFirst reads the first element of doc with ReadElement.
func readFirst(t *testing.T, doc string, opts ParseOptions) (string, error) {
	t.Helper()
	d := NewDecoder(strings.NewReader(doc))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		if se, ok := tok.(xml.StartElement); ok {
			e, err := ReadElement(d, se, opts)
			if err != nil {
				return "", err
			}
			c := FirstChild(e, NSTypes, "C")
			return e.Space + " " + e.Tag + " " + Text(c) + " " + Attr(c, "Id"), nil
		}
	}
}

func TestReadElement(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="utf-8"?><m:A xmlns:m="` + NSMessages + `" xmlns:t="` + NSTypes + `">` +
		`<!-- note --><t:C Id="x">one &amp; <![CDATA[two]]> three</t:C></m:A>`
	got, err := readFirst(t, doc, ParseOptions{})
	if want := NSMessages + " A one & two three x"; err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	deep := strings.Repeat("<a>", 5) + strings.Repeat("</a>", 5)
	if _, err := readFirst(t, deep, ParseOptions{MaxDepth: 4}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("5 levels with MaxDepth 4: %v", err)
	}
	if _, err := readFirst(t, deep, ParseOptions{MaxDepth: 5}); err != nil {
		t.Errorf("5 levels with MaxDepth 5: %v", err)
	}
	wide := "<a>" + strings.Repeat("<b/>", 10) + "</a>"
	if _, err := readFirst(t, wide, ParseOptions{MaxTags: 21}); !errors.Is(err, ErrTooManyTags) {
		t.Errorf("22 tags with MaxTags 21: %v", err)
	}
	if _, err := readFirst(t, wide, ParseOptions{MaxTags: 22}); err != nil {
		t.Errorf("22 tags with MaxTags 22: %v", err)
	}
	if _, err := readFirst(t, "<a><b>", ParseOptions{}); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated: %v", err)
	}
	if _, err := readFirst(t, "<a><b></a>", ParseOptions{}); !errors.Is(err, ErrSyntax) {
		t.Errorf("mismatched tags: %v", err)
	}
	if _, err := readFirst(t, `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, ParseOptions{}); err == nil {
		t.Error("a Latin-1 declaration was accepted")
	}
	if _, err := Parse(strings.NewReader(`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`), ParseOptions{}); !errors.Is(err, ErrSyntax) {
		t.Errorf("Parse of a Latin-1 declaration: %v", err)
	}
}

func TestReadFaultAndStatus(t *testing.T) {
	doc, err := Parse(strings.NewReader(`<s:Envelope xmlns:s="`+NSSoap+`"><s:Body><s:Fault>`+
		`<faultcode xmlns:a="`+NSTypes+`">a:ErrorServerBusy</faultcode><faultstring>busy</faultstring>`+
		`<detail><e:Message xmlns:e="`+NSErrors+`">slow down</e:Message>`+
		`<t:MessageXml xmlns:t="`+NSTypes+`"><t:Value Name="BackOffMilliseconds">1500</t:Value><t:Value>x</t:Value><t:Other>y</t:Other></t:MessageXml>`+
		`</detail></s:Fault></s:Body></s:Envelope>`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := ReadFault(FirstChild(FirstChild(doc.Root(), NSSoap, "Body"), NSSoap, "Fault"))
	want := []Value{{"BackOffMilliseconds", "1500"}, {"Value", "x"}, {"Other", "y"}}
	if f.Code != "ErrorServerBusy" || f.FaultString != "busy" || f.Message != "slow down" || len(f.MessageXML) != 3 {
		t.Fatalf("fault %+v", f)
	}
	for i := range want {
		if f.MessageXML[i] != want[i] {
			t.Errorf("MessageXML[%d] = %+v, want %+v", i, f.MessageXML[i], want[i])
		}
	}
	if d, inner := Hints(append(f.MessageXML, Value{"InnerErrorResponseCode", "ErrorX"})); d != 1500*time.Millisecond || inner != "ErrorX" {
		t.Errorf("Hints = %v %q", d, inner)
	}
	if d, _ := Hints([]Value{{"BackOffMilliseconds", "86400000"}}); d != 0 {
		t.Errorf("a day-long hint was kept: %v", d)
	}

	doc, err = Parse(strings.NewReader(`<m:R xmlns:m="`+NSMessages+`" ResponseClass="Error"><m:MessageText>gone</m:MessageText>`+
		`<m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:MessageXml><Value Name="k">v</Value></m:MessageXml></m:R>`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := ReadStatus(doc.Root())
	if st.Class != "Error" || st.Code != "ErrorItemNotFound" || st.Text != "gone" || len(st.MessageXML) != 1 || st.MessageXML[0] != (Value{"k", "v"}) {
		t.Errorf("status %+v", st)
	}
}

func TestParseBool(t *testing.T) {
	for s, want := range map[string]bool{"true": true, " 1 ": true, "false": false, "0": false} {
		if got, err := ParseBool(s); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "yes", "TRUE"} {
		if _, err := ParseBool(s); err == nil {
			t.Errorf("ParseBool(%q) accepted", s)
		}
	}
}
