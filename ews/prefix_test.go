package ews

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestDecode_PrefixIndependence decodes every golden response again after
// renaming its namespace prefixes, and after moving the types namespace to
// a default declaration on each element: the results must not change.
func TestDecode_PrefixIndependence(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdataDir, "*", "*.response.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]string{"getfolder": "GetFolder", "findfolder": "FindFolder", "syncfolderhierarchy": "SyncFolderHierarchy",
		"syncfolderitems": "SyncFolderItems", "getitem": "GetItem", "fault": "GetItem"}
	renames := []*strings.Replacer{
		strings.NewReplacer("t:", "types:", "m:", "msg:", "s:", "env:", "soap:", "env:", "h:", "hdr:"),
		strings.NewReplacer("t:", "m:", "m:", "t:"), // swapped prefixes
	}
	for _, p := range files {
		op, ok := ops[filepath.Base(filepath.Dir(p))]
		if !ok {
			continue
		}
		orig := string(readTestdata(t, filepath.Base(filepath.Dir(p)), filepath.Base(p)))
		want := decodeForCompare(t, op, orig)
		if strings.Contains(want, ErrMalformedResponse.Error()) {
			t.Errorf("%s does not decode: %s", p, want)
		}
		for i, r := range renames {
			renamed := renamePrefixes(orig, r)
			if i == 0 && renamed == orig {
				t.Fatalf("%s: rename %d changed nothing", p, i)
			}
			if got := decodeForCompare(t, op, renamed); !reflect.DeepEqual(got, want) {
				t.Errorf("%s rename %d: decoded differently:\n got %s\nwant %s", p, i, got, want)
			}
		}
		dt := defaultTypes(orig)
		if strings.Contains(dt, "<t:") {
			t.Fatalf("%s: types prefix left", p)
		}
		if got := decodeForCompare(t, op, dt); !reflect.DeepEqual(got, want) {
			t.Errorf("%s default namespace: decoded differently:\n got %s\nwant %s", p, got, want)
		}
	}
}

var tagPrefixRE = regexp.MustCompile(`(</?|xmlns:)([a-z]+:?)`)

// renamePrefixes renames element prefixes and their declarations, leaving
// text and attribute values alone.
func renamePrefixes(doc string, r *strings.Replacer) string {
	return tagPrefixRE.ReplaceAllStringFunc(doc, func(m string) string {
		i := strings.IndexAny(m, "<>/:")
		for i < len(m) && (m[i] == '<' || m[i] == '/') {
			i++
		}
		head, rest := m[:i], m[i:]
		if strings.HasPrefix(m, "xmlns:") {
			return "xmlns:" + strings.TrimSuffix(r.Replace(strings.TrimPrefix(m, "xmlns:")+":"), ":")
		}
		return head + r.Replace(rest)
	})
}

var typesElemRE = regexp.MustCompile(`<t:(\w+)`)

// defaultTypes writes every t: element unprefixed with a default namespace
// declaration instead.
func defaultTypes(doc string) string {
	doc = typesElemRE.ReplaceAllString(doc, `<$1 xmlns="http://schemas.microsoft.com/exchange/services/2006/types"`)
	return regexp.MustCompile(`</t:(\w+)>`).ReplaceAllString(doc, `</$1>`)
}

func decodeForCompare(t *testing.T, op, body string) string {
	t.Helper()
	rs := newReplayServer(t, http.StatusOK, []byte(body))
	c, _ := New(rs.URL, &Options{Retry: noRetry()})
	ctx := context.Background()
	var res any
	var err error
	switch op {
	case "GetFolder":
		refs := make([]FolderRef, strings.Count(body, "ResponseClass="))
		for i := range refs {
			refs[i] = DistinguishedFolder("inbox")
		}
		res, err = c.GetFolder(ctx, GetFolderRequest{Folders: refs})
	case "FindFolder":
		res, err = c.FindFolder(ctx, FindFolderRequest{Parent: DistinguishedFolder("root")})
	case "SyncFolderHierarchy":
		res, err = c.SyncFolderHierarchy(ctx, SyncFolderHierarchyRequest{})
	case "SyncFolderItems":
		res, err = c.SyncFolderItems(ctx, SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox")})
	case "GetItem":
		ids := make([]ItemID, max(1, strings.Count(body, "ResponseClass=")))
		for i := range ids {
			ids[i] = ItemID{ID: "x"}
		}
		res, err = c.GetItem(ctx, GetItemRequest{Items: ids})
	}
	js, jerr := json.Marshal(struct {
		R any
		E string
	}{res, errString(err)})
	if jerr != nil {
		t.Fatal(jerr)
	}
	return string(js)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
