package ewstest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ActivityKind names one kind of change the activity generator makes.
type ActivityKind string

// The changes the activity generator makes, each through the Mailbox
// method a SOAP operation would use.
const (
	ActNewMail      ActivityKind = "NewMail"      // Mailbox.Deliver
	ActMarkRead     ActivityKind = "MarkRead"     // Mailbox.SetRead(true)
	ActMarkUnread   ActivityKind = "MarkUnread"   // Mailbox.SetRead(false)
	ActFlag         ActivityKind = "Flag"         // Mailbox.UpdateItem FlagStatus
	ActMove         ActivityKind = "Move"         // Mailbox.MoveItem
	ActDelete       ActivityKind = "Delete"       // Mailbox.DeleteItem
	ActCreateFolder ActivityKind = "CreateFolder" // Mailbox.CreateFolder
	ActRenameFolder ActivityKind = "RenameFolder" // Mailbox.RenameFolder
	ActDeleteFolder ActivityKind = "DeleteFolder" // Mailbox.DeleteFolder
)

// ActivityKinds lists every kind in a fixed order.
var ActivityKinds = []ActivityKind{ActNewMail, ActMarkRead, ActMarkUnread, ActFlag, ActMove, ActDelete,
	ActCreateFolder, ActRenameFolder, ActDeleteFolder}

// DefaultActivityMix is the relative frequency of each kind when
// ActivityOptions.Mix is nil: mostly new mail and read-state changes, some
// filing and deleting, rare folder changes.
var DefaultActivityMix = map[ActivityKind]int{
	ActNewMail: 35, ActMarkRead: 20, ActMarkUnread: 7, ActFlag: 8, ActMove: 10, ActDelete: 11,
	ActCreateFolder: 3, ActRenameFolder: 3, ActDeleteFolder: 3,
}

// ActivityOptions configures an activity generator.
type ActivityOptions struct {
	// Rate is the number of changes per second of the server's clock.
	// Required (> 0) for Start; Step works with any rate.
	Rate float64
	// Seed makes the sequence of changes reproducible: the same seed on
	// the same mailbox state, stepped the same number of times, makes the
	// same changes.
	Seed int64
	// Mix gives the relative weight of each kind; nil means
	// DefaultActivityMix. A kind that is impossible at the time (nothing
	// to move, no user folder to rename) falls back to NewMail.
	Mix map[ActivityKind]int
	// OnChange, when set, is called after each change, on the goroutine
	// that made it (a clock timer's, or Step's caller). It must not block
	// and must not call the Activity's methods.
	OnChange func(ActivityChange)
}

// Validate checks the options.
func (o *ActivityOptions) Validate() error {
	if o.Rate < 0 || o.Rate > 1e6 {
		return fmt.Errorf("%w: activity rate %g outside 0..1e6", ErrInvalidArgument, o.Rate)
	}
	total := 0
	for k, w := range o.Mix {
		if !slices.Contains(ActivityKinds, k) {
			return fmt.Errorf("%w: unknown activity kind %q", ErrInvalidArgument, k)
		}
		if w < 0 {
			return fmt.Errorf("%w: negative weight for %s", ErrInvalidArgument, k)
		}
		total += w
	}
	if o.Mix != nil && total == 0 {
		return fmt.Errorf("%w: activity mix has no positive weight", ErrInvalidArgument)
	}
	return nil
}

// ActivityChange describes one change made by the generator.
type ActivityChange struct {
	Kind    ActivityKind
	Mailbox string // SMTP address
	// ItemID is the item concerned (for a move, its new id); FolderID the
	// folder created, renamed or deleted, or the folder the item is in
	// after the change.
	ItemID   string
	FolderID string
	Time     time.Time
}

// Activity is a running or stepped activity generator. It is safe for
// concurrent use.
type Activity struct {
	clock     Clock
	mailboxes []*Mailbox
	opts      ActivityOptions
	kinds     []ActivityKind
	cum       []int

	mu      sync.Mutex
	r       *rand.Rand
	gens    map[*Mailbox]*seedGen
	timer   func() bool
	running bool
	due     float64
	counts  map[ActivityKind]int64
	errs    int64
}

// newActivity returns a stopped generator that changes the given mailboxes,
// timed by clock (the server's clock, so that a test on a fake clock drives
// it with Advance).
func newActivity(clock Clock, mailboxes []*Mailbox, opts ActivityOptions) (*Activity, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		return nil, fmt.Errorf("%w: nil clock", ErrInvalidArgument)
	}
	if len(mailboxes) == 0 || slices.Contains(mailboxes, nil) {
		return nil, fmt.Errorf("%w: activity needs at least one mailbox", ErrInvalidArgument)
	}
	a := &Activity{clock: clock, mailboxes: slices.Clone(mailboxes), opts: opts,
		r:      rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0xa5a5a5a55a5a5a5a)),
		gens:   map[*Mailbox]*seedGen{},
		counts: map[ActivityKind]int64{}}
	mix := opts.Mix
	if mix == nil {
		mix = DefaultActivityMix
	}
	total := 0
	for _, k := range ActivityKinds {
		if w := mix[k]; w > 0 {
			total += w
			a.kinds = append(a.kinds, k)
			a.cum = append(a.cum, total)
		}
	}
	for i, m := range a.mailboxes {
		a.gens[m] = newSeedGen(opts.Seed+int64(i)+1, m.Address())
	}
	return a, nil
}

// minTick is the shortest timer interval; higher rates make several
// changes per tick.
const minTick = 10 * time.Millisecond

// Start makes the generator run on the clock at opts.Rate changes per
// second until Stop. Starting a running generator does nothing.
func (a *Activity) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opts.Rate <= 0 {
		return fmt.Errorf("%w: activity rate must be positive to start", ErrInvalidArgument)
	}
	if a.running {
		return nil
	}
	a.running = true
	a.scheduleLocked()
	return nil
}

func (a *Activity) interval() time.Duration {
	d := time.Duration(float64(time.Second) / a.opts.Rate)
	return max(d, minTick)
}

func (a *Activity) scheduleLocked() {
	a.timer = a.clock.AfterFunc(a.interval(), a.tick)
}

func (a *Activity) tick() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return
	}
	a.due += a.opts.Rate * a.interval().Seconds()
	n := int(a.due + 1e-9)
	a.due -= float64(n)
	for range n {
		a.stepLocked()
	}
	a.scheduleLocked()
}

// Stop stops a running generator; changes already made stay.
func (a *Activity) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running = false
	if a.timer != nil {
		a.timer()
		a.timer = nil
	}
}

// Running reports whether the generator is started.
func (a *Activity) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running
}

// Step makes one change now, whether or not the generator is running.
func (a *Activity) Step() (ActivityChange, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stepLocked()
}

// Counts returns how many changes of each kind were made.
func (a *Activity) Counts() map[ActivityKind]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.counts) // not nil: the constructor makes it
}

// Errors returns how many changes failed (a timer-driven generator skips
// them; Step returns the error).
func (a *Activity) Errors() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.errs
}

// Total returns the number of changes made.
func (a *Activity) Total() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n int64
	for _, v := range a.counts {
		n += v
	}
	return n
}

func (a *Activity) stepLocked() (ActivityChange, error) {
	m := a.mailboxes[a.r.IntN(len(a.mailboxes))]
	x := a.r.IntN(a.cum[len(a.cum)-1])
	kind := a.kinds[0]
	for i, c := range a.cum {
		if x < c {
			kind = a.kinds[i]
			break
		}
	}
	ch, err := a.apply(m, kind)
	if err == errImpossible {
		ch, err = a.apply(m, ActNewMail)
	}
	if err != nil {
		a.errs++
		return ch, fmt.Errorf("ewstest: activity %s on %s: %w", ch.Kind, m.Address(), err)
	}
	a.counts[ch.Kind]++
	if a.opts.OnChange != nil {
		a.opts.OnChange(ch)
	}
	return ch, nil
}

// errImpossible says a kind cannot be applied to the mailbox as it is.
var errImpossible = fmt.Errorf("%w: activity not possible now", ErrInvalidArgument)

// mailFolders returns the mail folders of the IPM subtree that items may
// live in or be filed to: the Inbox, Sent Items, Archive and user folders
// under them or under the top of the store (Deleted Items, Junk Email and
// the non-mail folders excluded). fs lists parents before children.
func mailFolders(fs []FolderInfo) (all, user []FolderInfo) {
	ok := map[string]bool{}
	for _, f := range fs {
		switch f.DistinguishedID {
		case "msgfolderroot":
			ok[f.ID] = true
			continue
		case "", "inbox", "sentitems", "archive":
			// A folder a client created without a class holds mail too.
			ok[f.ID] = ok[f.ParentID] && (f.FolderClass == "IPF.Note" || f.FolderClass == "")
		}
		if !ok[f.ID] {
			continue
		}
		all = append(all, f)
		if f.DistinguishedID == "" {
			user = append(user, f)
		}
	}
	return all, user
}

func (a *Activity) apply(m *Mailbox, kind ActivityKind) (ActivityChange, error) {
	r := a.r
	ch := ActivityChange{Kind: kind, Mailbox: m.Address(), Time: a.clock.Now()}
	all, user := mailFolders(m.Folders())
	switch kind {
	case ActNewMail:
		to := "inbox"
		if len(user) > 0 && r.IntN(100) < 15 {
			to = user[r.IntN(len(user))].ID
		}
		msg := a.gens[m].message(ch.Time, ch.Time, false)
		msg.IsRead = false
		it, err := m.Deliver(to, msg)
		ch.ItemID, ch.FolderID = it.ID, it.FolderID
		return ch, err
	case ActMarkRead, ActMarkUnread, ActFlag, ActMove, ActDelete:
		f, id, ok := pickItem(m, all, r)
		if !ok {
			return ch, errImpossible
		}
		ch.ItemID, ch.FolderID = id, f.ID
		switch kind {
		case ActMarkRead, ActMarkUnread:
			_, err := m.SetRead(id, kind == ActMarkRead)
			return ch, err
		case ActFlag:
			st := FlagFlagged
			if r.IntN(3) == 0 {
				st = FlagComplete
			}
			_, err := m.UpdateItem(id, ItemUpdate{FlagStatus: &st, Overwrite: true})
			return ch, err
		case ActMove:
			var targets []FolderInfo
			for _, t := range all {
				if t.ID != f.ID {
					targets = append(targets, t)
				}
			}
			if len(targets) == 0 {
				return ch, errImpossible
			}
			it, err := m.MoveItem(id, targets[r.IntN(len(targets))].ID)
			ch.ItemID, ch.FolderID = it.ID, it.FolderID
			return ch, err
		default:
			mode := MoveToDeletedItems
			switch x := r.IntN(10); {
			case x < 3:
				mode = SoftDelete
			case x < 4:
				mode = HardDelete
			}
			return ch, m.DeleteItem(id, mode)
		}
	case ActCreateFolder:
		parent := "msgfolderroot"
		if r.IntN(3) == 0 {
			parent = "inbox"
		}
		name := folderNames[r.IntN(len(folderNames))] + " " + strconv.Itoa(1000+r.IntN(9000))
		fi, err := m.CreateFolder(parent, name, "IPF.Note")
		if err != nil && isFolderExists(err) {
			return ch, errImpossible
		}
		ch.FolderID = fi.ID
		return ch, err
	case ActRenameFolder:
		if len(user) == 0 {
			return ch, errImpossible
		}
		f := user[r.IntN(len(user))]
		name := folderNames[r.IntN(len(folderNames))] + " " + strconv.Itoa(1000+r.IntN(9000))
		_, err := m.RenameFolder(f.ID, name)
		if err != nil && isFolderExists(err) {
			return ch, errImpossible
		}
		ch.FolderID = f.ID
		return ch, err
	case ActDeleteFolder:
		// Only leaf folders, so one change does not wipe out a subtree.
		var leaves []FolderInfo
		for _, f := range user {
			if f.ChildFolderCount == 0 {
				leaves = append(leaves, f)
			}
		}
		if len(leaves) == 0 {
			return ch, errImpossible
		}
		f := leaves[r.IntN(len(leaves))]
		ch.FolderID = f.ID
		err := m.DeleteFolder(f.ID, MoveToDeletedItems)
		if err != nil && isFolderExists(err) {
			// Deleted Items already holds a folder of that name.
			err = m.DeleteFolder(f.ID, SoftDelete)
		}
		return ch, err
	}
	return ch, fmt.Errorf("%w: activity kind %q", ErrInvalidArgument, kind)
}

// pickItem chooses a live item of one of the folders, the folder chosen
// with probability proportional to its item count.
func pickItem(m *Mailbox, folders []FolderInfo, r *rand.Rand) (FolderInfo, string, bool) {
	total := 0
	for _, f := range folders {
		total += f.TotalCount
	}
	if total == 0 {
		return FolderInfo{}, "", false
	}
	x := r.IntN(total)
	var f FolderInfo
	for _, f = range folders {
		if x < f.TotalCount {
			break
		}
		x -= f.TotalCount
	}
	id, ok := m.nthLiveItem(f.ID, x)
	return f, id, ok
}

// nthLiveItem returns the id of roughly the n-th live item of the folder
// (a random probe of its entries, falling back to a scan), without
// building snapshots of the others.
func (m *Mailbox) nthLiveItem(folderID string, n int) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil || f.live == 0 || len(f.entries) == 0 {
		return "", false
	}
	// Entries hold tombstones too; start at a proportional position and
	// walk to the nearest live item.
	start := n * len(f.entries) / max(f.live, 1)
	start = min(start, len(f.entries)-1)
	for i := 0; i < len(f.entries); i++ {
		e := f.entries[(start+i)%len(f.entries)]
		if !e.deleted {
			return e.id, true
		}
	}
	return "", false
}

// NewActivity returns a stopped activity generator over every mailbox of
// the server (in address order), timed by the server's clock.
func (s *Server) NewActivity(opts ActivityOptions) (*Activity, error) {
	s.mu.RLock()
	mbs := make([]*Mailbox, 0, len(s.mailboxes))
	for _, m := range s.mailboxes {
		mbs = append(mbs, m)
	}
	s.mu.RUnlock()
	slices.SortFunc(mbs, func(a, b *Mailbox) int { return strings.Compare(a.Address(), b.Address()) })
	return newActivity(s.clock, mbs, opts)
}

// StartActivity is NewActivity followed by Start.
func (s *Server) StartActivity(opts ActivityOptions) (*Activity, error) {
	a, err := s.NewActivity(opts)
	if err != nil {
		return nil, err
	}
	if err := a.Start(); err != nil {
		return nil, err
	}
	return a, nil
}
