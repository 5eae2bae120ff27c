package ews

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// The fast path must give exactly what the tree path gives: the same
// values when both succeed, the same class of error otherwise. These tests
// decode the same bytes both ways and compare.

// decodeResult is the outcome of decoding one response body for one op.
type decodeResult struct {
	sync     *SyncFolderItemsResult
	items    []ItemResult
	version  *ServerVersionInfo
	messages []responseMessage
	err      error
	fast     bool // the fast path produced it
}

// decodeBoth decodes body for op through the tree path and through
// decodeResponse (the fast path with its fall-back). For GetItem the
// number of requested items is the number of response messages.
func decodeBoth(op string, body []byte, maxTags int) (tree, fast decodeResult) {
	run := func(dec func(string, []byte, int) (*soapResponse, error)) (r decodeResult) {
		sr, err := dec(op, body, maxTags)
		if err != nil {
			r.err = err
			return r
		}
		r.fast = sr.fast != nil
		r.version = sr.ServerVersion
		for _, m := range sr.Messages {
			m.Elem = nil
			r.messages = append(r.messages, m)
		}
		switch op {
		case "SyncFolderItems":
			r.sync, r.err = decodeSyncFolderItems(sr)
		case "GetItem":
			r.items, r.err = decodeGetItem(sr, len(sr.Messages))
		}
		return r
	}
	return run(decodeEnvelope), run(decodeResponse)
}

// errClass names the kind of a decode error as callers tell them apart.
func errClass(err error) string {
	var fe *FaultError
	var re *ResponseError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &fe):
		return "fault " + string(fe.Code)
	case errors.As(err, &re):
		return "response " + string(re.Code)
	case errors.Is(err, ErrMalformedResponse):
		for _, e := range []error{ewsxml.ErrTooManyTags, ewsxml.ErrTooManyAttributes, ewsxml.ErrTooManyNamespaces, ewsxml.ErrTooDeep} {
			if errors.Is(err, e) {
				return "malformed (limit)"
			}
		}
		return "malformed"
	}
	return "untyped: " + err.Error()
}

// itemErrClasses lists the per-item error classes of a GetItem result.
func itemErrClasses(rs []ItemResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, errClass(r.Err))
	}
	return out
}

// diffDecode returns "" when the two paths agree on body, else what
// differs. Errors are compared by class; a limit error on one side must
// be a limit error on the other.
func diffDecode(op string, body []byte, maxTags int) (diff string, usedFast bool) {
	d, f, _ := diffDecodeEligible(op, body, maxTags)
	return d, f
}

// diffDecodeEligible is diffDecode that also reports whether the fast
// path should have been taken: the tree path succeeded and every message
// and item is a success.
func diffDecodeEligible(op string, body []byte, maxTags int) (diff string, usedFast, eligible bool) {
	d, f := diffResults(op, body, maxTags)
	tree, _ := decodeBoth(op, body, maxTags)
	eligible = tree.err == nil
	for _, m := range tree.messages {
		eligible = eligible && m.Class == "Success" && m.Code == "NoError"
	}
	for _, r := range tree.items {
		eligible = eligible && r.Err == nil
	}
	return d, f, eligible
}

func diffResults(op string, body []byte, maxTags int) (diff string, usedFast bool) {
	tree, fast := decodeBoth(op, body, maxTags)
	if a, b := errClass(tree.err), errClass(fast.err); a != b {
		return fmt.Sprintf("error class: tree %s (%v), fast %s (%v)", a, tree.err, b, fast.err), fast.fast
	}
	if tree.err != nil {
		return "", fast.fast
	}
	if !reflect.DeepEqual(tree.version, fast.version) {
		return fmt.Sprintf("ServerVersion: tree %+v, fast %+v", tree.version, fast.version), fast.fast
	}
	if !reflect.DeepEqual(tree.messages, fast.messages) {
		return fmt.Sprintf("messages: tree %+v, fast %+v", tree.messages, fast.messages), fast.fast
	}
	if !reflect.DeepEqual(tree.sync, fast.sync) {
		return fmt.Sprintf("sync result:\ntree %+v\nfast %+v", tree.sync, fast.sync), fast.fast
	}
	if a, b := itemErrClasses(tree.items), itemErrClasses(fast.items); !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("item errors: tree %v, fast %v", a, b), fast.fast
	}
	for i := range tree.items {
		if tree.items[i].Err == nil && !reflect.DeepEqual(tree.items[i].Item, fast.items[i].Item) {
			return fmt.Sprintf("item %d:\ntree %+v\nfast %+v", i, tree.items[i].Item, fast.items[i].Item), fast.fast
		}
	}
	return "", fast.fast
}

// responseFiles returns every response file under the repository's
// testdata/ews.
func responseFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(testdataDir, "*", "*.response.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no response files: %v", err)
	}
	return files
}

// TestFastDecodeGoldenFiles decodes every golden response as both hot
// operations both ways; the SyncFolderItems and GetItem pages that
// succeed must take the fast path.
func TestFastDecodeGoldenFiles(t *testing.T) {
	for _, p := range responseFiles(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []string{"SyncFolderItems", "GetItem"} {
			for _, maxTags := range []int{0, DefaultMaxResponseTags, 40} {
				d, fast, eligible := diffDecodeEligible(op, b, maxTags)
				if d != "" {
					t.Errorf("%s as %s (MaxTags %d): %s", p, op, maxTags, d)
				}
				dir := filepath.Base(filepath.Dir(p))
				if maxTags == 0 && strings.EqualFold(dir, op) && eligible && !fast {
					t.Errorf("%s as %s did not take the fast path", p, op)
				}
			}
		}
	}
}

// TestFastDecodeBenchPages compares the benchmark pages.
func TestFastDecodeBenchPages(t *testing.T) {
	for _, c := range []struct {
		op   string
		body []byte
	}{
		{"SyncFolderItems", syncPage512()},
		{"GetItem", getItemMIMEBatch(10, 3000)},
		{"GetItem", getItemMIMEBatch(3, 0)},
	} {
		d, fast := diffDecode(c.op, c.body, DefaultMaxResponseTags)
		if d != "" {
			t.Errorf("%s: %s", c.op, d)
		}
		if !fast {
			t.Errorf("%s page did not take the fast path", c.op)
		}
	}
}
