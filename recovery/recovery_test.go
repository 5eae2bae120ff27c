package recovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func stored(id string, commit time.Time, del, total, unread int64, readAt time.Time) Stored {
	return Stored{ID: id, Props: Props{LocalCommitTimeMax: commit, DeletedCountTotal: del, TotalCount: total, UnreadCount: unread},
		ReadAt: readAt, Complete: true}
}

func withMirrored(s Stored, items, unread int64) Stored {
	s.Mirrored = &Counts{Items: items, Unread: unread}
	return s
}

func TestCompare(t *testing.T) {
	later := t0.Add(10 * time.Second)
	base := Props{LocalCommitTimeMax: t0, DeletedCountTotal: 3, TotalCount: 10, UnreadCount: 2}
	with := func(f func(*Props)) Props { p := base; f(&p); return p }
	tests := []struct {
		name   string
		stored Stored
		fresh  *Props
		want   Reason // "" = unchanged, "vanished"
	}{
		{"unchanged", stored("a", t0, 3, 10, 2, later), &base, ""},
		{"commit time moved", stored("a", t0, 3, 10, 2, later), ptr(with(func(p *Props) { p.LocalCommitTimeMax = later })), ReasonCommitTime},
		{"deleted count moved", stored("a", t0, 3, 10, 2, later), ptr(with(func(p *Props) { p.DeletedCountTotal = 4 })), ReasonDeletedCount},
		{"total differs", stored("a", t0, 3, 10, 2, later), ptr(with(func(p *Props) { p.TotalCount = 11 })), ReasonTotalCount},
		{"unread differs (read flag without commit time)", stored("a", t0, 3, 10, 2, later), ptr(with(func(p *Props) { p.UnreadCount = 1 })), ReasonUnreadCount},
		{"read in the same second", stored("a", t0, 3, 10, 2, t0.Add(900*time.Millisecond)), &base, ReasonUncertain},
		{"read exactly one second later", stored("a", t0, 3, 10, 2, t0.Add(time.Second)), &base, ""},
		{"client clock behind", stored("a", t0, 3, 10, 2, t0.Add(-time.Second)), &base, ReasonUncertain},
		{"incomplete", Stored{ID: "a", Props: base, ReadAt: later}, &base, ReasonIncomplete},
		{"never synced", Stored{ID: "a"}, &base, ReasonNew},
		{"no props from server", stored("a", t0, 3, 10, 2, later), ptr(with(func(p *Props) { p.LocalCommitTimeMax = time.Time{} })), ReasonNoProps},
		{"vanished", stored("a", t0, 3, 10, 2, later), nil, "vanished"},
		{"mirror holds the same counts", withMirrored(stored("a", t0, 3, 10, 2, later), 10, 2), &base, ""},
		// A flip the last sync saw, then an opposite one after the loss:
		// the server's UnreadCount is back to the stored one.
		{"mirror unread differs", withMirrored(stored("a", t0, 3, 10, 2, later), 10, 1), &base, ReasonMirrorCount},
		{"mirror total differs", withMirrored(stored("a", t0, 3, 10, 2, later), 9, 2), &base, ReasonMirrorCount},
		{"mirror differs, server counts absent", withMirrored(stored("a", t0, 3, 10, 2, later), 9, 1), ptr(with(func(p *Props) { p.TotalCount, p.UnreadCount = -1, -1 })), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh := map[string]Props{}
			if tt.fresh != nil {
				fresh["a"] = *tt.fresh
			}
			p := Compare([]Stored{tt.stored}, fresh, nil)
			switch tt.want {
			case "":
				if len(p.Resync) != 0 || p.Unchanged != 1 || p.Compared != 1 {
					t.Fatalf("plan %+v, want unchanged", p)
				}
			case "vanished":
				if !slices.Equal(p.Vanished, []string{"a"}) || p.Compared != 0 {
					t.Fatalf("plan %+v, want vanished", p)
				}
			default:
				if len(p.Resync) != 1 || p.Resync[0].Reason != tt.want || p.Unchanged != 0 {
					t.Fatalf("plan %+v, want resync for %s", p, tt.want)
				}
			}
		})
	}
}

func TestCompare_UncertainWindowDisabled(t *testing.T) {
	s := stored("a", t0, 0, 0, 0, t0.Add(time.Millisecond))
	p := Compare([]Stored{s}, map[string]Props{"a": s.Props}, &Options{UncertainWindow: -1})
	if p.Unchanged != 1 {
		t.Fatalf("plan %+v, want unchanged with the rule off", p)
	}
}

func TestCompare_OnlyMovedFoldersOfMany(t *testing.T) {
	var st []Stored
	fresh := map[string]Props{}
	for i := range 1000 {
		id := fmt.Sprintf("f%04d", i)
		s := stored(id, t0, int64(i), 5, 1, t0.Add(time.Minute))
		st = append(st, s)
		fresh[id] = s.Props
	}
	for _, i := range []int{3, 300, 999} {
		p := fresh[st[i].ID]
		p.UnreadCount++
		fresh[st[i].ID] = p
	}
	p := Compare(st, fresh, nil)
	if !slices.Equal(p.Folders(), []string{"f0003", "f0300", "f0999"}) || p.Unchanged != 997 || p.Reasons()[ReasonUnreadCount] != 3 {
		t.Fatalf("plan: resync %v, unchanged %d", p.Folders(), p.Unchanged)
	}
}

func ptr[T any](v T) *T { return &v }

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want Action
	}{
		{nil, None},
		{context.Canceled, Stop},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), Stop},
		{&ews.ResponseError{Op: "GetEvents", Code: ews.ErrSubscriptionNotFound}, Resubscribe},
		{&ews.ResponseError{Op: "GetEvents", Code: ews.ErrInvalidWatermark}, Resubscribe},
		{&ews.ResponseError{Op: "GetEvents", Code: ews.ErrExpiredSubscription}, Resubscribe},
		{&ews.ResponseError{Op: "GetStreamingEvents", Code: ews.ErrMissedNotificationEvents}, CompareOnly},
		{&ews.ResponseError{Op: "GetEvents", Code: ews.ErrMailboxMoveInProgress}, MailboxMoved},
		{fmt.Errorf("push: %w", ews.ErrSubscriptionLost), Resubscribe},
		{fmt.Errorf("pull: %w", ews.ErrWatermarkGap), CompareOnly},
		{&ews.ResponseError{Op: "SyncFolderItems", Code: ews.ErrInvalidSyncStateData}, ResyncFolder},
		{&ews.FaultError{Op: "SyncFolderItems", Code: ews.ErrServerBusy, BackOff: time.Second}, Retry},
		{&ews.HTTPError{Op: "GetItem", StatusCode: 503}, Retry},
		{&ews.NetworkError{Op: "GetItem", Err: errors.New("reset")}, Retry},
		{&ews.HTTPError{Op: "GetItem", StatusCode: 401}, Fail},
		{errors.New("something else"), Fail},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// getter is a FolderGetter over a fixed set of folders.
type getter struct {
	folders map[string]ews.Folder
	calls   atomic.Int64
	maxIDs  atomic.Int64
	fail    error
}

func (g *getter) GetFolder(ctx context.Context, req ews.GetFolderRequest) ([]ews.FolderResult, error) {
	g.calls.Add(1)
	if n := int64(len(req.Folders)); n > g.maxIDs.Load() {
		g.maxIDs.Store(n)
	}
	if g.fail != nil {
		return nil, g.fail
	}
	out := make([]ews.FolderResult, len(req.Folders))
	for i, r := range req.Folders {
		f, ok := g.folders[r.ID]
		if !ok {
			out[i].Err = &ews.ResponseError{Op: "GetFolder", Class: "Error", Code: ews.ErrFolderNotFound}
			continue
		}
		out[i].Folder = f
	}
	return out, nil
}

func TestReadProps(t *testing.T) {
	g := &getter{folders: map[string]ews.Folder{}}
	var ids []string
	for i := range 1000 {
		id := fmt.Sprintf("f%d", i)
		ids = append(ids, id)
		if i%100 != 7 {
			g.folders[id] = ews.Folder{ID: ews.FolderID{ID: id}, TotalCount: i, UnreadCount: 1, DeletedCountTotal: 2, LocalCommitTimeMax: t0}
		}
	}
	fresh, err := ReadProps(context.Background(), g, ids, &ReadOptions{BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Requests != 4 || g.calls.Load() != 4 || g.maxIDs.Load() != 300 {
		t.Fatalf("requests %d, calls %d, max ids per call %d", fresh.Requests, g.calls.Load(), g.maxIDs.Load())
	}
	if len(fresh.Folders) != 990 || len(fresh.Missing) != 10 {
		t.Fatalf("%d folders, %d missing", len(fresh.Folders), len(fresh.Missing))
	}
	if p := fresh.Props()["f5"]; p.TotalCount != 5 || p.DeletedCountTotal != 2 || !p.LocalCommitTimeMax.Equal(t0) {
		t.Fatalf("props %+v", p)
	}
}

func TestReadProps_Errors(t *testing.T) {
	if _, err := ReadProps(context.Background(), &getter{}, nil, nil); !errors.Is(err, ErrNoFolders) {
		t.Fatalf("no ids: %v", err)
	}
	busy := &ews.FaultError{Op: "GetFolder", Code: ews.ErrServerBusy}
	_, err := ReadProps(context.Background(), &getter{fail: busy}, []string{"a"}, nil)
	if Classify(err) != Retry {
		t.Fatalf("busy: %v classified %v", err, Classify(err))
	}
}

func TestReport_String(t *testing.T) {
	r := Report{Mailbox: "alice@example.com", Cause: "ErrorSubscriptionNotFound", Resubscribed: true, Compared: 1000, Resynced: 5,
		Reasons: map[Reason]int{ReasonCommitTime: 4, ReasonUnreadCount: 1}, Items: 300, Requests: 12, Duration: 1234 * time.Millisecond}
	want := "recovery alice@example.com: cause ErrorSubscriptionNotFound, new subscription, 1000 folders compared, 5 resynced (commit-time 4, unread-count 1), 300 items changed, 12 requests, 1.234s"
	if got := r.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
