package localstore

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
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
	got, fnum, ok := decodeItem(it.ID, appendItem(nil, &it, 77))
	if !ok || fnum != 77 {
		t.Fatalf("decode failed: %v %d", ok, fnum)
	}
	got.FolderID = it.FolderID
	eq(t, "item", got, normItem(it))
	if h, ok := decodeItemHead(appendItem(nil, &it, 77)); !ok || h.fnum != 77 || !h.received.Equal(it.Received) || h.flags != flagAttachments|flagRead {
		t.Fatalf("head %+v %v", h, ok)
	}
	v1, ok := decodeItemV1(it.ID, appendItemV1(nil, &it))
	if !ok {
		t.Fatal("decode of a schema-1 item failed")
	}
	eq(t, "schema-1 item", v1, normItem(it))

	f := Folder{FolderInfo: FolderInfo{ID: "f", ParentID: "p", DisplayName: "Inbox", TotalCount: 3, UnreadCount: 1},
		FolderSync: FolderSync{SyncState: "ss", LocalCommitTimeMax: time.Unix(1700000000, 0).UTC(), DeletedCountTotal: 9}, LocalItems: 4, LocalUnread: 2}
	gf, num, ok := decodeFolder("f", appendFolder(nil, &f, 5))
	if !ok || num != 5 {
		t.Fatal("folder decode failed")
	}
	eq(t, "folder", gf, f)
	for _, format := range []byte{folderFormat1, folderFormat2} {
		old, num, ok := decodeFolder("f", appendFolderLegacy(nil, &f, format))
		want := f
		if format == folderFormat1 {
			want.LocalItems, want.LocalUnread = 0, 0
		}
		if !ok || num != 0 {
			t.Fatalf("format %d folder decode failed", format)
		}
		eq(t, "legacy folder", old, want)
	}

	st := stateRecord{MailboxState: MailboxState{Mailbox: "m", HierarchySyncState: "h", Seq: 1 << 40,
		Subscription: Subscription{Kind: Push, ID: "s", Watermark: "w", LastEvent: time.Unix(5, 6).UTC()}}, MIMEItems: 2, MIMEBytes: 100, LastFolder: 9}
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
	v := appendItem(nil, &it, 3)
	for n := range len(v) {
		if _, _, ok := decodeItem(it.ID, v[:n]); ok {
			t.Fatalf("prefix of %d/%d bytes decoded", n, len(v))
		}
	}
	f := Folder{FolderInfo: FolderInfo{ID: "f", DisplayName: "x"}}
	fv := appendFolder(nil, &f, 3)
	for n := range len(fv) {
		if _, _, ok := decodeFolder("f", fv[:n]); ok {
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
	f.Add(byte(0), appendItem(nil, &it, 1))
	f.Add(byte(4), appendItemV1(nil, &it))
	fo := Folder{FolderInfo: FolderInfo{ID: "f", ParentID: "p"}, LocalItems: 1}
	f.Add(byte(1), appendFolder(nil, &fo, 1))
	f.Add(byte(1), appendFolderLegacy(nil, &fo, folderFormat1))
	st := stateRecord{MailboxState: MailboxState{Seq: 3}, LastFolder: 2}
	f.Add(byte(2), appendState(nil, &st))
	f.Add(byte(3), appendIndexKey(nil, 1, time.Unix(1, 2), "id"))
	f.Fuzz(func(t *testing.T, kind byte, v []byte) {
		switch kind % 6 {
		case 0:
			it, fnum, ok := decodeItem("id", v)
			if !ok {
				return
			}
			again, fnum2, ok := decodeItem("id", appendItem(nil, &it, fnum))
			if !ok || fnum2 != fnum || !reflect.DeepEqual(again, it) {
				t.Fatalf("re-encoded item differs: %+v vs %+v", again, it)
			}
			if h, ok := decodeItemHead(v); !ok || h.fnum != fnum || !h.received.Equal(it.Received) {
				t.Fatalf("head disagrees with item")
			}
			if sub, name, email, ok := searchFields(v); !ok || string(sub) != it.Subject || string(name) != it.From.Name || string(email) != it.From.Email {
				t.Fatalf("searchFields disagrees with item")
			}
		case 5:
			searchFields(v) // must not panic on anything
		case 4:
			it, ok := decodeItemV1("id", v)
			if !ok {
				return
			}
			again, ok := decodeItemV1("id", appendItemV1(nil, &it))
			if !ok || !reflect.DeepEqual(again, it) {
				t.Fatalf("re-encoded schema-1 item differs: %+v vs %+v", again, it)
			}
		case 1:
			f, num, ok := decodeFolder("f", v)
			if !ok {
				return
			}
			if num == 0 {
				num = 1 // a legacy record: re-encode in the current format
			}
			again, num2, ok := decodeFolder("f", appendFolder(nil, &f, num))
			if !ok || num2 != num || !reflect.DeepEqual(again, f) {
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
			_, tk, id, ok := parseIndexKey(v)
			if ok && (len(tk) != timeKeyLen || len(id) == 0 || folderKeyLen+len(tk)+len(id) != len(v)) {
				t.Fatalf("bad split %q %q", tk, id)
			}
		}
	})
}

// The encoders of schemas 1 and 2, for building old files in tests.

func appendItemV1(b []byte, it *Item) []byte {
	b = append(b, itemFormat1, itemFlags(it))
	b = appendTime(b, it.Received)
	b = appendString(b, string(it.FolderID))
	return appendItemTail(b, it)
}

func appendFolderLegacy(b []byte, f *Folder, format byte) []byte {
	return appendFolderTail(append(b, format), f, format == folderFormat2)
}

func appendStateV1(b []byte, s *stateRecord) []byte {
	v := appendState(nil, s)
	// Format 2 inserts the last folder number after the format byte.
	_, n := binary.Uvarint(v[1:])
	return append(append(b, stateFormat1), v[1+n:]...)
}

func appendIndexKeyV1(b []byte, f FolderID, t time.Time, id ItemID) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
	b = append(b, f...)
	b = appendTimeKey(b, t)
	return append(b, id...)
}

func TestContainsFold(t *testing.T) {
	tests := []struct {
		s, needle string
		want      bool
	}{
		{"Quarterly REPORT", "report", true},
		{"Quarterly REPORT", "reports", false},
		{"", "a", false},
		{"abc", "", true},
		{"\u212Aelvin", "kelvin", true}, // the Kelvin sign lowers to ASCII k
		{"STRASSE", "straße", false},
		{"Straße", "straße", true},
		{"ÜBER alles", "über", true},
	}
	for _, tt := range tests {
		if got := containsFold([]byte(tt.s), tt.needle); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v", tt.s, tt.needle, got)
		}
		if want := strings.Contains(strings.ToLower(tt.s), tt.needle); want != tt.want {
			t.Errorf("table entry %q/%q disagrees with strings.ToLower", tt.s, tt.needle)
		}
	}
}

// TestCodec_StateCallbackDigest: a push subscription's callback digest
// round-trips; a record without one (all records written before it
// existed) keeps its bytes and decodes with none.
func TestCodec_StateCallbackDigest(t *testing.T) {
	st := stateRecord{MailboxState: MailboxState{Mailbox: "m", HierarchySyncState: "h", Seq: 3,
		Subscription: Subscription{Kind: Push, ID: "s", Watermark: "w", LastEvent: time.Unix(5, 6).UTC()}}, MIMEItems: 2, MIMEBytes: 100, LastFolder: 9}
	without := appendState(nil, &st)
	st.Subscription.CallbackDigest = "3q51U5aYw1JMzynrLYiNcuT2kvMrt39KbPpu45po83Q"
	with := appendState(nil, &st)
	if !bytes.HasPrefix(with, without) {
		t.Fatal("the digest changed the bytes before it")
	}
	gs, ok := decodeState("m", with)
	if !ok {
		t.Fatal("state with a digest did not decode")
	}
	eq(t, "state with a digest", gs, st)
	gs, ok = decodeState("m", without)
	if !ok || gs.Subscription.CallbackDigest != "" {
		t.Fatalf("state without a digest: %v %+v", ok, gs.Subscription)
	}
	for n := len(without) + 1; n < len(with); n++ {
		if _, ok := decodeState("m", with[:n]); ok {
			t.Fatalf("a record cut inside the digest (%d/%d bytes) decoded", n, len(with))
		}
	}
}
