package ews

import (
	"bytes"
	"strconv"
	"testing"
)

// restoreMIME puts lifted texts back in place of their placeholders.
func restoreMIME(t testing.TB, body []byte, lifted [][]byte) []byte {
	var out []byte
	for n := range lifted {
		ph := []byte(">#" + strconv.Itoa(n) + "<")
		i := bytes.Index(body, ph)
		if i < 0 {
			t.Fatalf("placeholder %d missing in %q", n, body)
		}
		out = append(out, body[:i+1]...)
		out = append(out, lifted[n]...)
		body = body[i+len(ph)-1:]
	}
	return append(out, body...)
}

func TestExtractMIME(t *testing.T) {
	for _, tc := range []struct {
		in      string
		lifted  []string
		outWant string
	}{
		{`<t:MimeContent CharacterSet="UTF-8">QUJD</t:MimeContent>`, []string{"QUJD"}, `<t:MimeContent CharacterSet="UTF-8">#0</t:MimeContent>`},
		{`<MimeContent>QUJD</MimeContent ><x:MimeContent a='>'>` + "QU\r\nJD\n" + `</x:MimeContent>`, []string{"QUJD", "QU\r\nJD\n"}, `<MimeContent>#0</MimeContent ><x:MimeContent a='>'>#1</x:MimeContent>`},
		{`<t:MimeContent/>`, nil, ""},
		{`<t:MimeContent>QU&amp;JD</t:MimeContent>`, nil, ""},
		{`<t:MimeContent>QUJD</u:MimeContent>`, nil, ""},
		{`<t:MimeContentX>QUJD</t:MimeContentX>`, nil, ""},
		{`<t:Subject>MimeContent</t:Subject>`, nil, ""},
		{`</t:MimeContent>`, nil, ""},
		{`<:MimeContent>QUJD</:MimeContent>`, nil, ""},
		{`<t:MimeContent>QUJD`, nil, ""},
		{`<t:MimeContent x="<">QUJD</t:MimeContent>`, []string{"QUJD"}, `<t:MimeContent x="<">#0</t:MimeContent>`},
	} {
		out, lifted := extractMIME([]byte(tc.in))
		if len(lifted) != len(tc.lifted) {
			t.Errorf("%q: lifted %q, want %q", tc.in, lifted, tc.lifted)
			continue
		}
		for i := range lifted {
			if string(lifted[i]) != tc.lifted[i] {
				t.Errorf("%q: lifted[%d] = %q, want %q", tc.in, i, lifted[i], tc.lifted[i])
			}
		}
		if tc.lifted == nil {
			if string(out) != tc.in {
				t.Errorf("%q changed to %q", tc.in, out)
			}
			continue
		}
		if string(out) != tc.outWant {
			t.Errorf("%q: out %q, want %q", tc.in, out, tc.outWant)
		}
		if back := restoreMIME(t, out, lifted); string(back) != tc.in {
			t.Errorf("%q: restored %q", tc.in, back)
		}
	}
}

func TestMimeText(t *testing.T) {
	lifted := [][]byte{[]byte("SGVs\r\nbG8= ")}
	b, err := mimeText("#0", lifted)
	if err != nil || string(b) != "Hello" {
		t.Fatalf("%q %v", b, err)
	}
	for _, bad := range []string{"#1", "#-1", "#x", "@@@"} {
		if _, err := mimeText(bad, lifted); err == nil {
			t.Errorf("mimeText(%q) accepted", bad)
		}
	}
	if b, err := mimeText("SGVsbG8=", nil); err != nil || string(b) != "Hello" {
		t.Fatalf("%q %v", b, err)
	}
}

// FuzzExtractMIME checks that lifting is lossless: putting the lifted
// texts back gives the input again.
func FuzzExtractMIME(f *testing.F) {
	f.Add([]byte(`<t:MimeContent CharacterSet="UTF-8">QUJD</t:MimeContent>`))
	f.Add([]byte(`<a><MimeContent>QUJD</MimeContent ><x:MimeContent a='>'>QQ==</x:MimeContent></a>`))
	f.Add(readTestdata(f, "getitem", "batch.response.xml"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.IndexByte(in, '#') >= 0 {
			return // restoreMIME could not tell placeholders from input
		}
		out, lifted := extractMIME(in)
		if lifted == nil {
			if !bytes.Equal(out, in) {
				t.Fatal("changed without lifting")
			}
			return
		}
		if back := restoreMIME(t, out, lifted); !bytes.Equal(back, in) {
			t.Fatalf("restored %q, want %q", back, in)
		}
	})
}
