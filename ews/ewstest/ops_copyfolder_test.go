package ewstest

import (
	"slices"
	"testing"
)

// TestCopyFolder copies a folder with items and a subfolder over SOAP:
// the copy has new ids and the same content, the original is untouched,
// and bad targets get per-folder errors.
func TestCopyFolder(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	src, err := m.CreateFolder("msgfolderroot", "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := m.CreateFolder(src.ID, "2026", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b"} {
		mustDeliver(t, m, src.ID, testMessage(s))
	}
	mustDeliver(t, m, sub.ID, testMessage("c"))
	gone := mustDeliver(t, m, src.ID, testMessage("deleted"))
	if err := m.DeleteItem(gone.ID, HardDelete); err != nil {
		t.Fatal(err)
	}

	doc := call(t, srv, `<m:CopyFolder><m:ToFolderId><t:DistinguishedFolderId Id="inbox"/></m:ToFolderId>`+
		`<m:FolderIds><t:FolderId Id="`+src.ID+`"/></m:FolderIds></m:CopyFolder>`)
	if got := codes(doc); !slices.Equal(got, []string{"NoError"}) {
		t.Fatalf("codes %v", got)
	}
	cpID := attr(first(t, doc, "FolderId"), "Id")
	if cpID == src.ID {
		t.Fatal("the copy has the original's id")
	}
	cp, err := m.Folder(cpID)
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := m.Folder("inbox")
	if cp.DisplayName != "Projects" || cp.TotalCount != 2 || cp.ChildFolderCount != 1 || cp.ParentID != inbox.ID {
		t.Errorf("copy = %+v", cp)
	}
	items, _ := m.Items(cpID)
	var subjects []string
	for _, it := range items {
		subjects = append(subjects, it.Message.Subject)
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, []string{"a", "b"}) {
		t.Errorf("copied items %v", subjects)
	}
	var subCopy FolderInfo
	for _, f := range m.Folders() {
		if f.ParentID == cpID {
			subCopy = f
		}
	}
	if subCopy.DisplayName != "2026" || subCopy.TotalCount != 1 || subCopy.ID == sub.ID {
		t.Errorf("copied subfolder %+v", subCopy)
	}
	if orig, _ := m.Folder(src.ID); orig.TotalCount != 2 || orig.ChildFolderCount != 1 {
		t.Errorf("original after copy %+v", orig)
	}

	// Into its own subtree, over a same-named sibling, from an unknown id.
	doc = call(t, srv, `<m:CopyFolder><m:ToFolderId><t:FolderId Id="`+sub.ID+`"/></m:ToFolderId>`+
		`<m:FolderIds><t:FolderId Id="`+src.ID+`"/></m:FolderIds></m:CopyFolder>`)
	doc2 := call(t, srv, `<m:CopyFolder><m:ToFolderId><t:DistinguishedFolderId Id="inbox"/></m:ToFolderId>`+
		`<m:FolderIds><t:FolderId Id="`+src.ID+`"/></m:FolderIds></m:CopyFolder>`)
	if got := append(codes(doc), codes(doc2)...); !slices.Equal(got, []string{"ErrorMoveCopyFailed", "ErrorFolderExists"}) {
		t.Errorf("bad copies: %v", got)
	}
	// Over the Go API too.
	if _, err := m.CopyFolder(src.ID, "drafts"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyFolder("nope", "drafts"); err == nil {
		t.Error("copying an unknown folder succeeded")
	}
}
