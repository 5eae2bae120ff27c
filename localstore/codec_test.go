package localstore

import (
	"reflect"
	"testing"
	"time"
)

func TestCodec_RoundTrip(t *testing.T) {
	it := testItem("inbox", 3)
	it.Received = time.Date(1601, 1, 1, 0, 0, 0, 5, time.FixedZone("x", 3600))
	it.Sent = time.Time{}
	it.Cc = []Address{{Name: "Ünïcode", Email: ""}}
	it.Categories = []string{"Red", ""}
	it.HasAttachments, it.Importance = true, ImportanceHigh
	got, ok := decodeItem(it.ID, appendItem(nil, &it))
	if !ok {
		t.Fatal("decode failed")
	}
	eq(t, "item", got, normItem(it))
	if h, ok := decodeItemHead(appendItem(nil, &it)); !ok || h.folder != it.FolderID || !h.received.Equal(it.Received) || h.flags != flagAttachments|flagRead {
		t.Fatalf("head %+v %v", h, ok)
	}

	f := Folder{FolderInfo: FolderInfo{ID: "f", ParentID: "p", DisplayName: "Inbox", TotalCount: 3, UnreadCount: 1},
		FolderSync: FolderSync{SyncState: "ss", LocalCommitTimeMax: time.Unix(1700000000, 0).UTC(), DeletedCountTotal: 9}, LocalItems: 4, LocalUnread: 2}
	gf, ok := decodeFolder("f", appendFolder(nil, &f, folderFormat))
	if !ok {
		t.Fatal("folder decode failed")
	}
	eq(t, "folder", gf, f)

	st := stateRecord{MailboxState: MailboxState{Mailbox: "m", HierarchySyncState: "h", Seq: 1 << 40,
		Subscription: Subscription{Kind: Push, ID: "s", Watermark: "w", LastEvent: time.Unix(5, 6).UTC()}}, MIMEItems: 2, MIMEBytes: 100}
	gs, ok := decodeState("m", appendState(nil, &st))
	if !ok {
		t.Fatal("state decode failed")
	}
	eq(t, "state", gs, st)
}

// TestCodec_Truncated checks that every strict prefix of a record is
// rejected, not misread.
func TestCodec_Truncated(t *testing.T) {
	it := testItem("inbox", 3)
	it.Categories = []string{"a"}
	v := appendItem(nil, &it)
	for n := range len(v) {
		if _, ok := decodeItem(it.ID, v[:n]); ok {
			t.Fatalf("prefix of %d/%d bytes decoded", n, len(v))
		}
	}
	f := Folder{FolderInfo: FolderInfo{ID: "f", DisplayName: "x"}}
	fv := appendFolder(nil, &f, folderFormat)
	for n := range len(fv) {
		// A format-2 prefix may happen to be a whole format-1 record
		// only if its first byte says format 1, which it does not.
		if _, ok := decodeFolder("f", fv[:n]); ok {
			t.Fatalf("folder prefix of %d/%d bytes decoded", n, len(fv))
		}
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the record decoders: they must
// not panic, and whatever they accept must re-encode to a record that
// decodes to the same value.
func FuzzDecodeRecord(f *testing.F) {
	it := testItem("inbox", 1)
	it.Categories = []string{"x"}
	f.Add(byte(0), appendItem(nil, &it))
	fo := Folder{FolderInfo: FolderInfo{ID: "f", ParentID: "p"}, LocalItems: 1}
	f.Add(byte(1), appendFolder(nil, &fo, folderFormat))
	f.Add(byte(1), appendFolder(nil, &fo, folderFormat1))
	st := stateRecord{MailboxState: MailboxState{Seq: 3}}
	f.Add(byte(2), appendState(nil, &st))
	f.Add(byte(3), appendIndexKey(nil, "inbox", time.Unix(1, 2), "id"))
	f.Fuzz(func(t *testing.T, kind byte, v []byte) {
		switch kind % 4 {
		case 0:
			it, ok := decodeItem("id", v)
			if !ok {
				return
			}
			again, ok := decodeItem("id", appendItem(nil, &it))
			if !ok || !reflect.DeepEqual(again, it) {
				t.Fatalf("re-encoded item differs: %+v vs %+v", again, it)
			}
			if h, ok := decodeItemHead(v); !ok || h.folder != it.FolderID || !h.received.Equal(it.Received) {
				t.Fatalf("head disagrees with item")
			}
		case 1:
			f, ok := decodeFolder("f", v)
			if !ok {
				return
			}
			again, ok := decodeFolder("f", appendFolder(nil, &f, folderFormat))
			if !ok || !reflect.DeepEqual(again, f) {
				t.Fatalf("re-encoded folder differs")
			}
		case 2:
			s, ok := decodeState("m", v)
			if !ok {
				return
			}
			again, ok := decodeState("m", appendState(nil, &s))
			if !ok || again != s {
				t.Fatalf("re-encoded state differs")
			}
		case 3:
			folder, tk, id, ok := parseIndexKey(v)
			if ok && (len(tk) != timeKeyLen || len(id) == 0 || 2+len(folder)+len(tk)+len(id) != len(v)) {
				t.Fatalf("bad split %q %q %q", folder, tk, id)
			}
		}
	})
}
