package ews

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// TestDecodeFloodsBounded: the floods of issue 13 (scaled down), inside a
// SyncFolderItems page, fail with a typed ErrMalformedResponse through
// the fast path and through the tree path of any operation, having
// allocated next to nothing.
func TestDecodeFloodsBounded(t *testing.T) {
	page := smallSyncPage
	at := strings.Index(page, "<t:Create>")
	inject := func(s string) []byte { return []byte(page[:at] + s + page[at:]) }
	var attrs, xmlns bytes.Buffer
	attrs.WriteString("<t:Create ")
	xmlns.WriteString("<t:Create ")
	for i := range 500_000 {
		attrs.WriteString("a" + strings.Repeat("b", i%9) + `="" `)
		xmlns.WriteString("xmlns:p" + strings.Repeat("q", i%9) + `="urn:x" `)
	}
	attrs.WriteString("/>")
	xmlns.WriteString("/>")
	cases := []struct {
		name    string
		body    []byte
		maxTags int
		want    error
	}{
		{"attributes", inject(attrs.String()), DefaultMaxResponseTags, ewsxml.ErrTooManyAttributes},
		{"xmlns", inject(xmlns.String()), DefaultMaxResponseTags, ewsxml.ErrTooManyNamespaces},
		{"empty elements", inject(strings.Repeat("<t:x/>", 150_000)), 200_000, ewsxml.ErrTooManyTags},
	}
	for _, c := range cases {
		for _, op := range []string{"SyncFolderItems", "GetItem", "GetFolder"} {
			var err error
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			_, err = decodeResponse(op, c.body, c.maxTags)
			runtime.ReadMemStats(&ms1)
			if !errors.Is(err, ErrMalformedResponse) || !errors.Is(err, c.want) {
				t.Errorf("%s as %s: %v, want %v", c.name, op, err, c.want)
			}
			if n := ms1.TotalAlloc - ms0.TotalAlloc; n > 256<<10 {
				t.Errorf("%s as %s: %d bytes allocated for a %d-byte body", c.name, op, n, len(c.body))
			}
		}
	}
}
