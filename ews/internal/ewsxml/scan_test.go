package ewsxml

import "testing"

// TestScannerChild walks the children of an element with Child: it stops
// at the element's end tag with no error, and at malformed input with one.
func TestScannerChild(t *testing.T) {
	const ns = `xmlns:t="` + NSTypes + `"`
	cases := []struct {
		name, doc string
		want      []string // the children's local names
		wantErr   bool
	}{
		{"children", `<t:R ` + ns + `><t:A>1</t:A>text<t:B/><!-- c --><t:C><t:D/></t:C></t:R>`, []string{"A", "B", "C"}, false},
		{"empty", `<t:R ` + ns + `/>`, nil, false},
		{"truncated", `<t:R ` + ns + `><t:A>1</t:A><t:B>`, []string{"A", "B"}, true},
		{"mismatched end", `<t:R ` + ns + `><t:A></t:B></t:R>`, []string{"A"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s Scanner
			s.Reset([]byte(c.doc), Limits{})
			if s.Next() != TokStart {
				t.Fatalf("no root: %v", s.Err())
			}
			var got []string
			for s.Child() {
				got = append(got, string(s.Local()))
				if !s.Skip() {
					break
				}
			}
			if (s.Err() != nil) != c.wantErr {
				t.Fatalf("Err() = %v, want error %v", s.Err(), c.wantErr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("children %q, want %q", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("children %q, want %q", got, c.want)
				}
			}
			if !c.wantErr && s.Next() != TokEOF {
				t.Errorf("after the root's end tag: not at TokEOF (%v)", s.Err())
			}
		})
	}
}
