package ews

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds adds every response file of the given testdata directories.
func addSeeds(f *testing.F, dirs ...string) {
	for _, d := range dirs {
		files, err := filepath.Glob(filepath.Join(testdataDir, d, "*.response.xml"))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("<html>"))
}

// checkDecodeErr fails unless err is one of the typed errors a decoder may
// return for bad input.
func checkDecodeErr(t *testing.T, err error) {
	var fe *FaultError
	var re *ResponseError
	if err != nil && !errors.Is(err, ErrMalformedResponse) && !errors.As(err, &fe) && !errors.As(err, &re) {
		t.Fatalf("untyped decode error: %v", err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	addSeeds(f, "fault", "getfolder", "getitem")
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := decodeEnvelope("GetItem", b, 0)
		checkDecodeErr(t, err)
		if err == nil {
			for _, m := range sr.Messages {
				if m.Class == "Error" && m.Err == nil {
					t.Fatal("Error message without Err")
				}
			}
		}
	})
}

func FuzzDecodeGetFolder(f *testing.F) {
	addSeeds(f, "getfolder")
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := decodeEnvelope("GetFolder", b, 0)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		rs, err := decodeGetFolder(sr, len(sr.Messages))
		checkDecodeErr(t, err)
		for _, r := range rs {
			if r.Err == nil && r.Folder.ID.ID == "" {
				t.Fatal("folder without id and without error")
			}
		}
	})
}

func FuzzDecodeFindFolder(f *testing.F) {
	addSeeds(f, "findfolder")
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := decodeEnvelope("FindFolder", b, 0)
		checkDecodeErr(t, err)
		if err == nil {
			_, err = decodeFindFolder(sr, 0)
			checkDecodeErr(t, err)
		}
	})
}

func FuzzDecodeSyncFolderHierarchy(f *testing.F) {
	addSeeds(f, "syncfolderhierarchy")
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := decodeEnvelope("SyncFolderHierarchy", b, 0)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		r, err := decodeSyncFolderHierarchy(sr)
		checkDecodeErr(t, err)
		if err == nil && r.SyncState == "" {
			t.Fatal("success without SyncState")
		}
	})
}

func FuzzDecodeSyncFolderItems(f *testing.F) {
	addSeeds(f, "syncfolderitems")
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := decodeEnvelope("SyncFolderItems", b, 0)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		r, err := decodeSyncFolderItems(sr)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		for _, ch := range r.Changes {
			if ch.Item.ID.ID == "" || ch.Kind < ChangeCreate || ch.Kind > ChangeReadFlag {
				t.Fatalf("bad change %+v", ch)
			}
		}
	})
}

func FuzzDecodeGetItem(f *testing.F) {
	addSeeds(f, "getitem")
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := decodeEnvelope("GetItem", b, 0)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		rs, err := decodeGetItem(sr, len(sr.Messages))
		checkDecodeErr(t, err)
		for _, r := range rs {
			if r.Err == nil && r.Item.ID.ID == "" {
				t.Fatal("item without id and without error")
			}
		}
	})
}
