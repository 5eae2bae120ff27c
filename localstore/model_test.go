package localstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// model is a plain map-based mirror: the specification the store is
// compared against.
type model struct {
	mbs map[Mailbox]*modelMbox
}

type modelMbox struct {
	state   MailboxState
	folders map[FolderID]Folder // FolderInfo and FolderSync only; counts derived
	items   map[ItemID]Item
	mime    map[ItemID][]byte
}

func newModel() *model { return &model{mbs: map[Mailbox]*modelMbox{}} }

func (m *modelMbox) clone() *modelMbox {
	c := &modelMbox{state: m.state, folders: maps.Clone(m.folders), items: maps.Clone(m.items), mime: maps.Clone(m.mime)}
	return c
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normItem(it Item) Item {
	it.Received, it.Sent = normTime(it.Received), normTime(it.Sent)
	if len(it.To) == 0 {
		it.To = nil
	}
	if len(it.Cc) == 0 {
		it.Cc = nil
	}
	if len(it.Categories) == 0 {
		it.Categories = nil
	}
	it.To, it.Cc, it.Categories = slices.Clone(it.To), slices.Clone(it.Cc), slices.Clone(it.Categories)
	return it
}

func normSync(s FolderSync) FolderSync {
	s.LocalCommitTimeMax, s.LastSynced = normTime(s.LocalCommitTimeMax), normTime(s.LastSynced)
	return s
}

// modelValidate finds the defects the generator injects; it is written
// independently of Batch.validate.
func modelValidate(b *Batch) error {
	bad := func(id string) bool { return id == "" || len(id) > MaxIDLen }
	if bad(string(b.Mailbox)) {
		return ErrInvalidBatch
	}
	for _, f := range b.Folders {
		switch {
		case bad(string(f.ID)), f.ParentID != "" && bad(string(f.ParentID)):
			return ErrInvalidBatch
		case f.ParentID == f.ID:
			return ErrFolderCycle
		case f.TotalCount < 0 || f.UnreadCount < 0 || f.ChildFolderCount < 0:
			return ErrInvalidBatch
		}
	}
	for _, mv := range b.FolderMoves {
		switch {
		case bad(string(mv.ID)), mv.NewParent != "" && bad(string(mv.NewParent)):
			return ErrInvalidBatch
		case mv.NewParent == mv.ID:
			return ErrFolderCycle
		}
	}
	for _, it := range b.Items {
		if bad(string(it.ID)) || bad(string(it.FolderID)) || it.Size < 0 || it.Importance > ImportanceHigh {
			return ErrInvalidBatch
		}
	}
	for _, mm := range b.MIME {
		if bad(string(mm.ID)) {
			return ErrInvalidBatch
		}
	}
	for _, r := range b.ReadFlags {
		if bad(string(r.ID)) {
			return ErrInvalidBatch
		}
	}
	for _, id := range b.ItemDeletes {
		if bad(string(id)) {
			return ErrInvalidBatch
		}
	}
	for _, c := range b.Checkpoints {
		if bad(string(c.ID)) || c.DeletedCountTotal < 0 {
			return ErrInvalidBatch
		}
	}
	for _, id := range b.FolderDeletes {
		if bad(string(id)) {
			return ErrInvalidBatch
		}
	}
	if b.Subscription != nil && b.Subscription.Kind > Push {
		return ErrInvalidBatch
	}
	return nil
}

func (m *modelMbox) cycles(id, parent FolderID) bool {
	for p, n := parent, 0; p != "" && n <= len(m.folders); n++ {
		if p == id {
			return true
		}
		f, ok := m.folders[p]
		if !ok {
			return false
		}
		p = f.ParentID
	}
	return false
}

// apply returns the sentinel the store must return, and changes the model
// only on success.
func (md *model) apply(b Batch) error {
	if err := modelValidate(&b); err != nil {
		return err
	}
	old := md.mbs[b.Mailbox]
	var m *modelMbox
	if old == nil {
		m = &modelMbox{state: MailboxState{Mailbox: b.Mailbox}, folders: map[FolderID]Folder{}, items: map[ItemID]Item{}, mime: map[ItemID][]byte{}}
	} else {
		if b.Seq != 0 && b.Seq <= old.state.Seq {
			return nil
		}
		m = old.clone()
	}
	for _, fi := range b.Folders {
		if m.cycles(fi.ID, fi.ParentID) {
			return ErrFolderCycle
		}
		f := m.folders[fi.ID]
		f.FolderInfo = fi
		m.folders[fi.ID] = f
	}
	for _, mv := range b.FolderMoves {
		f, ok := m.folders[mv.ID]
		if !ok {
			return ErrUnknownFolder
		}
		if m.cycles(mv.ID, mv.NewParent) {
			return ErrFolderCycle
		}
		f.ParentID = mv.NewParent
		m.folders[mv.ID] = f
	}
	for _, it := range b.Items {
		if _, ok := m.folders[it.FolderID]; !ok {
			return ErrUnknownFolder
		}
		m.items[it.ID] = normItem(it)
	}
	for _, mm := range b.MIME {
		if _, ok := m.items[mm.ID]; !ok {
			return ErrUnknownItem
		}
		m.mime[mm.ID] = append([]byte{}, mm.Data...)
	}
	for _, r := range b.ReadFlags {
		if it, ok := m.items[r.ID]; ok {
			it.IsRead = r.IsRead
			m.items[r.ID] = it
		}
	}
	for _, id := range b.ItemDeletes {
		delete(m.items, id)
		delete(m.mime, id)
	}
	for _, c := range b.Checkpoints {
		f, ok := m.folders[c.ID]
		if !ok {
			return ErrUnknownFolder
		}
		f.FolderSync = normSync(c.FolderSync)
		m.folders[c.ID] = f
	}
	for _, id := range b.FolderDeletes {
		if _, ok := m.folders[id]; !ok {
			continue
		}
		doomed := map[FolderID]bool{id: true}
		for grew := true; grew; {
			grew = false
			for fid, f := range m.folders {
				if !doomed[fid] && doomed[f.ParentID] {
					doomed[fid], grew = true, true
				}
			}
		}
		for fid := range doomed {
			delete(m.folders, fid)
		}
		for iid, it := range m.items {
			if doomed[it.FolderID] {
				delete(m.items, iid)
				delete(m.mime, iid)
			}
		}
	}
	if b.Hierarchy != nil {
		m.state.HierarchySyncState = b.Hierarchy.SyncState
	}
	if b.Subscription != nil {
		s := *b.Subscription
		s.LastEvent = normTime(s.LastEvent)
		m.state.Subscription = s
	}
	if b.Seq != 0 {
		m.state.Seq = b.Seq
	}
	md.mbs[b.Mailbox] = m
	return nil
}

// folder returns f with its derived counters.
func (m *modelMbox) folder(id FolderID) Folder {
	f := m.folders[id]
	f.ID = id
	f.LocalItems, f.LocalUnread = 0, 0
	for _, it := range m.items {
		if it.FolderID == id {
			f.LocalItems++
			if !it.IsRead {
				f.LocalUnread++
			}
		}
	}
	return f
}

func (m *modelMbox) tree() []Folder {
	var all []Folder
	for id := range m.folders {
		all = append(all, m.folder(id))
	}
	byName := func(a, b Folder) int {
		if c := strings.Compare(a.DisplayName, b.DisplayName); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	}
	var out []Folder
	var walk func(parent FolderID, root bool)
	walk = func(parent FolderID, root bool) {
		var kids []Folder
		for _, f := range all {
			_, parentKnown := m.folders[f.ParentID]
			if (root && !parentKnown) || (!root && parentKnown && f.ParentID == parent) {
				kids = append(kids, f)
			}
		}
		slices.SortFunc(kids, byName)
		for _, k := range kids {
			out = append(out, k)
			walk(k.ID, false)
		}
	}
	walk("", true)
	return out
}

// listing returns the items of folder newest first as Items must.
func (m *modelMbox) listing(folder FolderID, q Query) []Item {
	var out []Item
	for _, it := range m.items {
		if it.FolderID != folder || (q.UnreadOnly && it.IsRead) {
			continue
		}
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int {
		if c := b.Received.Compare(a.Received); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	return page(out, q)
}

// page applies q's cursor and limit to a full newest-first listing.
func page(sorted []Item, q Query) []Item {
	out := sorted
	if !q.After.IsZero() {
		cut := 0
		for cut < len(out) {
			it := out[cut]
			after := it.Received.Before(q.After.Received) ||
				(it.Received.Equal(q.After.Received) && it.ID > q.After.ID)
			if after {
				break
			}
			cut++
		}
		out = out[cut:]
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

func (m *modelMbox) search(q SearchQuery) []Item {
	needle := strings.ToLower(q.Text)
	var out []Item
	for _, it := range m.items {
		if q.Folder != "" && it.FolderID != q.Folder {
			continue
		}
		if strings.Contains(strings.ToLower(it.Subject), needle) || strings.Contains(strings.ToLower(it.From.Name), needle) ||
			strings.Contains(strings.ToLower(it.From.Email), needle) {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, compareNewest)
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

func (m *modelMbox) stats() Stats {
	st := Stats{Folders: int64(len(m.folders)), Items: int64(len(m.items)), Seq: m.state.Seq}
	for _, it := range m.items {
		if !it.IsRead {
			st.Unread++
		}
	}
	for _, v := range m.mime {
		st.MIMEItems++
		st.MIMEBytes += int64(len(v))
	}
	return st
}

// eq compares with reflect.DeepEqual after normalising times, and reports the
// first difference.
func eq(t testing.TB, what string, got, want any) bool {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
		return false
	}
	return true
}

// compare checks every query of the store against the model.
func compare(t testing.TB, s *Store, md *model, rng *rand.Rand, words []string) {
	t.Helper()
	ctx := context.Background()
	mbs, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatalf("Mailboxes: %v", err)
	}
	var names []Mailbox
	for _, st := range mbs {
		names = append(names, st.Mailbox)
	}
	want := slices.Sorted(maps.Keys(md.mbs))
	if !eq(t, "mailboxes", names, want) {
		t.FailNow()
	}
	for _, mb := range want {
		m := md.mbs[mb]
		compareMailbox(t, s, mb, m, rng, words)
		if t.Failed() {
			t.FailNow()
		}
	}
}

func compareMailbox(t testing.TB, s *Store, mb Mailbox, m *modelMbox, rng *rand.Rand, words []string) {
	t.Helper()
	ctx := context.Background()
	st, err := s.MailboxState(ctx, mb)
	if err != nil {
		t.Fatalf("MailboxState: %v", err)
	}
	eq(t, "mailbox state", st, m.state)
	stats, err := s.Stats(ctx, mb)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	eq(t, "stats", stats, m.stats())
	tree := collect(t, s.Folders(ctx, mb))
	wantTree := m.tree()
	if len(tree) == 0 && len(wantTree) == 0 {
		tree, wantTree = nil, nil
	}
	eq(t, "folder tree", tree, wantTree)
	for _, f := range wantTree {
		got, err := s.Folder(ctx, mb, f.ID)
		if err != nil {
			t.Fatalf("Folder(%s): %v", f.ID, err)
		}
		eq(t, "folder "+string(f.ID), got, f)
		for _, unread := range []bool{false, true} {
			all := m.listing(f.ID, Query{UnreadOnly: unread})
			got := collect(t, s.Items(ctx, mb, f.ID, Query{UnreadOnly: unread}))
			if len(got) == 0 && len(all) == 0 {
				got = all
			}
			eq(t, fmt.Sprintf("items of %s unread=%v", f.ID, unread), got, all)
			// Page through with a random limit and the cursor.
			limit := 1 + rng.IntN(7)
			if len(all) > 60 {
				limit = 20 + rng.IntN(100)
			}
			var paged []Item
			q := Query{Limit: limit, UnreadOnly: unread}
			for {
				got := collect(t, s.Items(ctx, mb, f.ID, q))
				if want := page(all, q); !(len(got) == 0 && len(want) == 0) {
					eq(t, fmt.Sprintf("page of %s after %v", f.ID, q.After), got, want)
				}
				paged = append(paged, got...)
				if len(got) < limit {
					break
				}
				q.After = got[len(got)-1].Cursor()
			}
			if len(paged) == 0 {
				paged = all
			}
			eq(t, "paged listing", paged, all)
		}
	}
	if _, err := s.Folder(ctx, mb, "no-such-folder"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Folder(unknown) = %v, want ErrNotFound", err)
	}
	for _, err := range s.Items(ctx, mb, "no-such-folder", Query{}) {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Items(unknown folder) = %v, want ErrNotFound", err)
		}
	}
	// Items by id: all present ones, plus a few absent ones.
	for id, it := range m.items {
		got, err := s.Item(ctx, mb, id)
		if err != nil {
			t.Fatalf("Item(%s): %v", id, err)
		}
		eq(t, "item "+string(id), got, it)
	}
	for range 3 {
		id := ItemID(fmt.Sprintf("i%d", rng.IntN(400)))
		if _, ok := m.items[id]; ok {
			continue
		}
		if _, err := s.Item(ctx, mb, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Item(%s) absent: err %v", id, err)
		}
		if _, err := s.MIMEBytes(ctx, mb, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("MIMEBytes(%s) absent: err %v", id, err)
		}
	}
	for id, want := range m.mime {
		got, err := s.MIMEBytes(ctx, mb, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("MIMEBytes(%s) = %q, %v; want %q", id, got, err, want)
		}
		if rng.IntN(4) == 0 {
			r, err := s.MIME(ctx, mb, id)
			if err != nil {
				t.Fatalf("MIME(%s): %v", id, err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("MIME(%s) read %q, %v", id, got, err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("MIME close: %v", err)
			}
		}
	}
	for range 2 {
		q := SearchQuery{Text: words[rng.IntN(len(words))], Limit: rng.IntN(4)}
		if rng.IntN(2) == 0 {
			q.Text = strings.ToUpper(q.Text)
		}
		if rng.IntN(2) == 0 && len(wantTree) > 0 {
			q.Folder = wantTree[rng.IntN(len(wantTree))].ID
		}
		got := collect(t, s.Search(ctx, mb, q))
		want := m.search(q)
		if !(len(got) == 0 && len(want) == 0) {
			eq(t, fmt.Sprintf("search %+v", q), got, want)
		}
	}
}

// gen produces random batches over small id pools, so that creates, updates,
// moves, deletes and conflicts happen often.
type gen struct {
	rng    *rand.Rand
	words  []string
	seq    map[Mailbox]uint64
	nItems int
	nFold  int
}

func newGen(seed uint64) *gen {
	return &gen{
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		words:  []string{"report", "Invoice", "lunch", "ÜBER", "meeting", "Alice", "bob", "straße", "x"},
		seq:    map[Mailbox]uint64{},
		nItems: 120,
		nFold:  10,
	}
}

func (g *gen) folderID() FolderID { return FolderID(fmt.Sprintf("f%d", g.rng.IntN(g.nFold))) }
func (g *gen) itemID() ItemID     { return ItemID(fmt.Sprintf("i%d", g.rng.IntN(g.nItems))) }

func (g *gen) time() time.Time {
	switch g.rng.IntN(10) {
	case 0:
		return time.Time{}
	case 1:
		return baseTime.Add(time.Duration(g.rng.IntN(5)) * time.Hour).In(time.FixedZone("X", 3600*g.rng.IntN(5)))
	case 2:
		return baseTime.Add(-time.Duration(g.rng.Int64N(1e18))) // before 1970
	}
	// Few distinct times, so ties (ordered by id) are common.
	return baseTime.Add(time.Duration(g.rng.IntN(20))*time.Minute + time.Duration(g.rng.IntN(2))*time.Nanosecond)
}

func (g *gen) text() string {
	n := g.rng.IntN(4)
	w := make([]string, n)
	for i := range w {
		w[i] = g.words[g.rng.IntN(len(g.words))]
	}
	return strings.Join(w, " ")
}

func (g *gen) addrs() []Address {
	n := g.rng.IntN(3)
	if n == 0 {
		return nil
	}
	as := make([]Address, n)
	for i := range as {
		as[i] = Address{Name: g.text(), Email: fmt.Sprintf("u%d@example.com", g.rng.IntN(9))}
	}
	return as
}

func (g *gen) item(folders []FolderID) Item {
	f := g.folderID()
	if len(folders) > 0 && g.rng.IntN(10) != 0 {
		f = folders[g.rng.IntN(len(folders))]
	}
	it := Item{
		ID: g.itemID(), ChangeKey: fmt.Sprintf("ck%d", g.rng.IntN(1000)), FolderID: f, ItemClass: "IPM.Note",
		Subject: g.text(), From: Address{Name: g.text(), Email: g.text()}, To: g.addrs(), Cc: g.addrs(),
		Received: g.time(), Sent: g.time(), Size: g.rng.Int64N(1 << 20), IsRead: g.rng.IntN(2) == 0,
		HasAttachments: g.rng.IntN(3) == 0, Importance: Importance(g.rng.IntN(3)),
		InternetMessageID: fmt.Sprintf("<%d@x>", g.rng.IntN(1000)), ConversationID: fmt.Sprintf("c%d", g.rng.IntN(10)),
	}
	if g.rng.IntN(3) == 0 {
		it.Categories = []string{"Red", g.text()}
	}
	return it
}

// batch returns a random batch for mb; folders are the folders the model
// holds now (so most item upserts are valid).
func (g *gen) batch(mb Mailbox, folders []FolderID) Batch {
	r := g.rng
	b := Batch{Mailbox: mb}
	n := func(max int) int {
		if r.IntN(3) == 0 {
			return 0
		}
		return r.IntN(max + 1)
	}
	for range n(2) {
		b.Folders = append(b.Folders, FolderInfo{ID: g.folderID(), ParentID: g.maybeFolder(), DisplayName: []string{"Inbox", "Archive", "Zeta", "a"}[r.IntN(4)],
			ChangeKey: fmt.Sprint(r.IntN(100)), FolderClass: "IPF.Note", TotalCount: r.Int64N(50), UnreadCount: r.Int64N(5), ChildFolderCount: r.Int64N(3)})
	}
	if r.IntN(5) == 0 {
		b.FolderMoves = append(b.FolderMoves, FolderMove{ID: g.pick(folders), NewParent: g.maybeFolder()})
	}
	for range n(8) {
		b.Items = append(b.Items, g.item(folders))
	}
	for range n(2) {
		id := g.itemID()
		if len(b.Items) > 0 && r.IntN(2) == 0 {
			id = b.Items[r.IntN(len(b.Items))].ID
		}
		b.MIME = append(b.MIME, MIME{ID: id, Data: []byte(strings.Repeat(g.text(), r.IntN(30)))})
	}
	for range n(4) {
		b.ReadFlags = append(b.ReadFlags, ReadFlag{ID: g.itemID(), IsRead: r.IntN(2) == 0})
	}
	for range n(3) {
		b.ItemDeletes = append(b.ItemDeletes, g.itemID())
	}
	for range n(2) {
		b.Checkpoints = append(b.Checkpoints, Checkpoint{ID: g.pick(folders), FolderSync: FolderSync{
			SyncState: fmt.Sprintf("H4sIAAAA%d", r.IntN(1e6)), LocalCommitTimeMax: g.time(), DeletedCountTotal: r.Int64N(100), LastSynced: g.time()}})
	}
	if r.IntN(12) == 0 {
		b.FolderDeletes = append(b.FolderDeletes, g.folderID())
	}
	if r.IntN(3) == 0 {
		h := fmt.Sprintf("hier%d", r.IntN(1e6))
		b.Hierarchy = &HierarchySync{SyncState: h}
	}
	if r.IntN(3) == 0 {
		b.Subscription = &Subscription{Kind: SubscriptionKind(r.IntN(4)), ID: fmt.Sprint("sub", r.IntN(9)), Watermark: fmt.Sprint("wm", r.IntN(1e6)), LastEvent: g.time()}
	}
	switch r.IntN(4) {
	case 0: // unsequenced
	case 1: // stale: must be skipped once the mailbox has a higher Seq
		b.Seq = g.seq[mb] / 2
	default:
		g.seq[mb]++
		b.Seq = g.seq[mb]
	}
	if r.IntN(15) == 0 {
		g.inject(&b)
	}
	return b
}

func (g *gen) pick(folders []FolderID) FolderID {
	if len(folders) == 0 || g.rng.IntN(8) == 0 {
		return g.folderID()
	}
	return folders[g.rng.IntN(len(folders))]
}

func (g *gen) maybeFolder() FolderID {
	if g.rng.IntN(3) == 0 {
		return ""
	}
	if g.rng.IntN(6) == 0 {
		return "outside-root" // a parent that is never mirrored
	}
	return g.folderID()
}

// inject puts one defect that validation must catch into b.
func (g *gen) inject(b *Batch) {
	switch g.rng.IntN(5) {
	case 0:
		b.Items = append(b.Items, Item{ID: "", FolderID: "f0"})
	case 1:
		b.Items = append(b.Items, Item{ID: "ineg", FolderID: "f0", Size: -1})
	case 2:
		b.Folders = append(b.Folders, FolderInfo{ID: "fself", ParentID: "fself"})
	case 3:
		b.ItemDeletes = append(b.ItemDeletes, ItemID(strings.Repeat("x", MaxIDLen+1)))
	case 4:
		b.Subscription = &Subscription{Kind: 9}
	}
}

func folderIDs(m *modelMbox) []FolderID {
	if m == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(m.folders))
}

// runModel applies n random batches to s and md, checking every result and,
// every `every` batches, every query.
func runModel(t *testing.T, s *Store, seed uint64, mailboxes []Mailbox, n, every int) (ops int) {
	g := newGen(seed)
	md := newModel()
	ctx := context.Background()
	var last *Batch
	for i := range n {
		mb := mailboxes[g.rng.IntN(len(mailboxes))]
		var b Batch
		reapply := last != nil && last.Mailbox == mb && g.rng.IntN(10) == 0
		if reapply {
			b = *last
		} else {
			b = g.batch(mb, folderIDs(md.mbs[mb]))
		}
		ops += b.ops()
		var before *modelMbox
		if m := md.mbs[mb]; m != nil {
			before = m.clone()
		}
		wantErr := md.apply(b)
		err := s.Apply(ctx, b)
		if (err == nil) != (wantErr == nil) || (wantErr != nil && !errors.Is(err, wantErr)) {
			t.Fatalf("batch %d: Apply = %v, model says %v\nbatch: %+v", i, err, wantErr, b)
		}
		if err != nil {
			var be *BatchError
			if !errors.As(err, &be) || be.Mailbox != mb {
				t.Fatalf("batch %d: error %v is not a *BatchError for %s", i, err, mb)
			}
		} else {
			last = &b
		}
		if reapply && err == nil && before != nil {
			after := md.mbs[mb]
			if !reflect.DeepEqual(before.items, after.items) || !reflect.DeepEqual(before.folders, after.folders) ||
				!reflect.DeepEqual(before.mime, after.mime) || before.state != after.state {
				t.Fatalf("batch %d: re-applying the previous batch changed the mirror", i)
			}
		}
		if i%every == every-1 || err != nil {
			compare(t, s, md, g.rng, g.words)
		}
	}
	compare(t, s, md, g.rng, g.words)
	return ops
}

func TestStore_Model(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := MustOpenStore(t)
			ops := runModel(t, s, seed, []Mailbox{"alice@example.com", "bob@example.com"}, 400, 4)
			if ops < 2000 {
				t.Fatalf("only %d operations; the test is meant to run thousands", ops)
			}
			// Reopen: the file says the same as before.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(s.Path(), &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if err := s2.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStore_ModelConcurrent applies independent random sequences for many
// mailboxes at once, so batches (including failing ones) meet in group
// commits; each mailbox must end as its own model says.
func TestStore_ModelConcurrent(t *testing.T) {
	s := MustOpenStore(t)
	const workers = 8
	models := make([]*model, workers)
	var okBatches atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			g := newGen(uint64(100 + w))
			md := newModel()
			models[w] = md
			mb := Mailbox(fmt.Sprintf("user%d@example.com", w))
			for i := range 150 {
				b := g.batch(mb, folderIDs(md.mbs[mb]))
				wantErr := md.apply(b)
				err := s.Apply(context.Background(), b)
				if (err == nil) != (wantErr == nil) || (wantErr != nil && !errors.Is(err, wantErr)) {
					errs <- fmt.Errorf("%s batch %d: Apply = %v, model says %v", mb, i, err, wantErr)
					return
				}
				if err == nil {
					okBatches.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := newModel()
	for _, md := range models {
		maps.Copy(all.mbs, md.mbs)
	}
	compare(t, s, all, rand.New(rand.NewPCG(7, 7)), newGen(0).words)
	ws := s.WriterStats()
	if ws.Batches != uint64(okBatches.Load()) || ws.Commits > ws.Batches {
		t.Fatalf("writer stats %+v do not account for %d committed batches", ws, okBatches.Load())
	}
}
