package ewstest

import (
	"testing"
	"time"
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
