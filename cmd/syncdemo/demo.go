package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// demoConfig is what the demo flags set.
type demoConfig struct {
	messages int
	folders  int
	live     time.Duration
	rate     float64
	seed     int64
	db       string
	quiet    time.Duration
	maxDelay time.Duration
}

// runDemo is the default command: the foundation working together over the
// wire. It starts the fake Exchange server in-process with NTLM and a seeded
// mailbox, mirrors the mailbox into a bbolt store through the ews client
// (SyncFolderHierarchy, then GetFolder for the two MAPI props and
// SyncFolderItems per folder, each page applied in one transaction with its
// SyncState), then follows a streaming subscription while the fake's activity
// generator changes the mailbox, debouncing the events by folder and
// resyncing the dirty folders. It ends with a reconciliation pass and checks
// that the mirror holds exactly what the server holds.
//
// The orchestration here is a stand-in for the sync engine (syncengine/),
// which will own it; the demo keeps it small and visible.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg demoConfig
	fs.IntVar(&cfg.messages, "messages", 5000, "messages to seed")
	fs.IntVar(&cfg.folders, "folders", 10, "user folders to seed")
	fs.DurationVar(&cfg.live, "live", 4*time.Second, "how long to follow live changes")
	fs.Float64Var(&cfg.rate, "rate", 40, "changes per second made by the activity generator during the live phase")
	fs.Int64Var(&cfg.seed, "seed", 1, "seed for the mailbox and the activity")
	fs.StringVar(&cfg.db, "db", "", "mirror file (default: a temporary file, removed on exit)")
	fs.DurationVar(&cfg.quiet, "quiet", 300*time.Millisecond, "debounce quiet window")
	fs.DurationVar(&cfg.maxDelay, "max-delay", 2*time.Second, "debounce maximum delay")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: demo takes no arguments", errUsage)
	}
	if cfg.messages < 0 || cfg.folders < 0 || cfg.live < 0 || cfg.rate <= 0 {
		return fmt.Errorf("%w: -messages, -folders and -live must not be negative, -rate must be positive", errUsage)
	}
	return demo(ctx, cfg, stdout)
}

const (
	demoUser     = "alice"
	demoPassword = "secret"
	demoAddress  = "alice@example.com"
)

func demo(ctx context.Context, cfg demoConfig, out io.Writer) error {
	srv := ewstest.NewServer(ewstest.Options{
		Users: []ewstest.User{{Name: demoUser, Password: demoPassword, Address: demoAddress}},
		Auth:  ewstest.AuthOptions{Mode: "ntlm"},
	})
	defer srv.Close()
	box := srv.Mailbox(demoAddress)
	seeded, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: cfg.messages, Folders: cfg.folders, Seed: cfg.seed})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	_ = seeded
	fmt.Fprintf(out, "fake Exchange at %s (NTLM, %s, %d messages seeded)\n", srv.URL, demoAddress, cfg.messages)

	path := cfg.db
	if path == "" {
		dir, err := os.MkdirTemp("", "syncdemo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "mirror.db")
	}
	store, err := localstore.Open(path, nil)
	if err != nil {
		return err
	}
	defer store.Close()

	client, err := ews.New(srv.URL, &ews.Options{Auth: ews.NTLM(demoUser, demoPassword)})
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	m := &mirror{client: client, store: store, mb: localstore.Mailbox(demoAddress)}
	// The fake server is new on every run, with new ids: a mirror left by an
	// earlier run (-db) describes another mailbox.
	if _, err := store.MailboxState(ctx, m.mb); err == nil {
		if err := store.RemoveMailbox(ctx, m.mb); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed the mirror of %s left by an earlier run\n", demoAddress)
	}

	// 1. Initial mirror.
	start := time.Now()
	if err := m.syncHierarchy(ctx); err != nil {
		return err
	}
	var total changeCount
	for _, id := range m.folderIDs(ctx) {
		n, err := m.syncFolder(ctx, id)
		if err != nil {
			return err
		}
		total.add(n)
	}
	el := time.Since(start)
	fmt.Fprintf(out, "initial sync: %d folders, %d items in %v (%.0f items/s) into %s\n",
		len(m.folderIDs(ctx)), total.created, el.Round(time.Millisecond), float64(total.created)/el.Seconds(), path)

	// 2. Live: a streaming subscription, debounced by folder.
	if cfg.live > 0 {
		if err := m.followLive(ctx, srv, cfg, out); err != nil {
			return err
		}
	}

	// 3. Reconcile and check the mirror against the server's real state.
	var final changeCount
	if err := m.syncHierarchy(ctx); err != nil {
		return err
	}
	for _, id := range m.folderIDs(ctx) {
		n, err := m.syncFolder(ctx, id)
		if err != nil {
			return err
		}
		final.add(n)
	}
	fmt.Fprintf(out, "reconciliation pass: %s\n", final)
	if err := m.compare(ctx, box); err != nil {
		return err
	}
	if err := store.Check(ctx); err != nil {
		return fmt.Errorf("mirror integrity: %w", err)
	}
	st, err := store.Stats(ctx, m.mb)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "mirror matches the server: %d folders, %d items, %d unread; integrity check passed\n", st.Folders, st.Items, st.Unread)

	// 4. What an app reads offline: the newest messages of the Inbox.
	inbox, err := box.FolderID("inbox")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "newest in Inbox (from the mirror):")
	for it, err := range store.Items(ctx, m.mb, localstore.FolderID(inbox), localstore.Query{Limit: 5}) {
		if err != nil {
			return err
		}
		mark := " "
		if !it.IsRead {
			mark = "*"
		}
		fmt.Fprintf(out, "  %s %s  %-28.28s %s\n", mark, it.Received.Format("2006-01-02 15:04"), it.From.Email, it.Subject)
	}
	return nil
}

// changeCount counts the changes applied by syncs.
type changeCount struct{ created, updated, deleted, readFlags int }

func (c *changeCount) add(o changeCount) {
	c.created += o.created
	c.updated += o.updated
	c.deleted += o.deleted
	c.readFlags += o.readFlags
}

func (c changeCount) String() string {
	return fmt.Sprintf("%d created, %d updated, %d deleted, %d read-flag changes", c.created, c.updated, c.deleted, c.readFlags)
}

// mirror syncs one mailbox into the store.
type mirror struct {
	client *ews.Client
	store  *localstore.Store
	mb     localstore.Mailbox
}

// folderShape asks for what the store keeps of a folder: its place, name and
// counters, and the two MAPI props recovery compares.
func folderShape() ews.FolderShape {
	s := ews.FolderSyncShape()
	s.Fields = append(s.Fields, ews.FieldFolderParentFolderID, ews.FieldFolderDisplayName, ews.FieldFolderClass)
	return s
}

func folderInfo(f ews.Folder) localstore.FolderInfo {
	return localstore.FolderInfo{
		ID:               localstore.FolderID(f.ID.ID),
		ChangeKey:        f.ID.ChangeKey,
		ParentID:         localstore.FolderID(f.ParentID.ID),
		DisplayName:      f.DisplayName,
		FolderClass:      f.FolderClass,
		TotalCount:       int64(max(f.TotalCount, 0)),
		UnreadCount:      int64(max(f.UnreadCount, 0)),
		ChildFolderCount: int64(max(f.ChildFolderCount, 0)),
	}
}

// syncHierarchy applies SyncFolderHierarchy pages from the stored state,
// each page with its new state in one transaction.
func (m *mirror) syncHierarchy(ctx context.Context) error {
	st, err := m.store.MailboxState(ctx, m.mb)
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return err
	}
	root := ews.DistinguishedFolder("msgfolderroot")
	req := ews.SyncFolderHierarchyRequest{SyncFolder: &root, SyncState: st.HierarchySyncState, Shape: folderShape()}
	for page, err := range m.client.SyncFolderHierarchyPages(ctx, req) {
		if err != nil {
			return fmt.Errorf("sync hierarchy: %w", err)
		}
		b := localstore.Batch{Mailbox: m.mb, HierarchySyncState: &page.SyncState}
		for _, c := range page.Changes {
			if c.Kind == ews.ChangeDelete {
				b.FolderDeletes = append(b.FolderDeletes, localstore.FolderID(c.Folder.ID.ID))
				continue
			}
			b.Folders = append(b.Folders, folderInfo(c.Folder))
		}
		if err := m.store.Apply(ctx, b); err != nil {
			return fmt.Errorf("apply hierarchy: %w", err)
		}
	}
	return nil
}

func (m *mirror) folderIDs(ctx context.Context) []string {
	var ids []string
	for f, err := range m.store.Folders(ctx, m.mb) {
		if err != nil {
			break
		}
		ids = append(ids, string(f.ID))
	}
	return ids
}

// syncFolder reads the folder's props, then runs SyncFolderItems from the
// stored state to the end, applying each page together with its SyncState
// and the props read before the sync (DESIGN.md invariants 1 and 3). A
// folder that disappeared meanwhile is left to the next hierarchy sync.
func (m *mirror) syncFolder(ctx context.Context, id string) (changeCount, error) {
	var n changeCount
	res, err := m.client.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{{ID: id}}, Shape: folderShape()})
	if err != nil {
		return n, fmt.Errorf("get folder: %w", err)
	}
	if err := res[0].Err; err != nil {
		if errors.Is(err, ews.ErrFolderNotFound) {
			return n, nil
		}
		return n, fmt.Errorf("get folder: %w", err)
	}
	props := res[0].Folder
	stored, err := m.store.Folder(ctx, m.mb, localstore.FolderID(id))
	if err != nil {
		return n, err
	}
	req := ews.SyncFolderItemsRequest{
		Folder:    ews.FolderRef{ID: id},
		SyncState: stored.SyncState,
		Shape:     ews.MessageMetadataShape(false),
	}
	first := true
	for page, err := range m.client.SyncFolderItemsPages(ctx, req) {
		if err != nil {
			if errors.Is(err, ews.ErrSyncFolderNotFound) || errors.Is(err, ews.ErrFolderNotFound) {
				return n, nil
			}
			return n, fmt.Errorf("sync folder %s: %w", stored.DisplayName, err)
		}
		b := localstore.Batch{Mailbox: m.mb}
		if first {
			b.Folders = []localstore.FolderInfo{folderInfo(props)}
			first = false
		}
		for _, c := range page.Changes {
			switch c.Kind {
			case ews.ChangeCreate, ews.ChangeUpdate:
				it := itemOf(c.Item)
				if it.FolderID == "" {
					it.FolderID = localstore.FolderID(id)
				}
				b.Items = append(b.Items, it)
				if c.Kind == ews.ChangeCreate {
					n.created++
				} else {
					n.updated++
				}
			case ews.ChangeDelete:
				b.ItemDeletes = append(b.ItemDeletes, localstore.ItemID(c.Item.ID.ID))
				n.deleted++
			case ews.ChangeReadFlag:
				b.ReadFlags = append(b.ReadFlags, localstore.ReadFlag{ID: localstore.ItemID(c.Item.ID.ID), IsRead: c.IsRead})
				n.readFlags++
			}
		}
		b.Checkpoints = []localstore.Checkpoint{{Folder: localstore.FolderID(id), FolderSync: localstore.FolderSync{
			SyncState:          page.SyncState,
			LocalCommitTimeMax: props.LocalCommitTimeMax,
			DeletedCountTotal:  props.DeletedCountTotal,
			LastSynced:         time.Now(),
		}}}
		if err := m.store.Apply(ctx, b); err != nil {
			return n, fmt.Errorf("apply %s: %w", stored.DisplayName, err)
		}
	}
	return n, nil
}

func itemOf(it ews.Item) localstore.Item {
	addr := func(mb *ews.Mailbox) localstore.Address {
		if mb == nil {
			return localstore.Address{}
		}
		return localstore.Address{Name: mb.Name, Email: mb.EmailAddress}
	}
	list := func(mbs []ews.Mailbox) []localstore.Address {
		var out []localstore.Address
		for i := range mbs {
			out = append(out, addr(&mbs[i]))
		}
		return out
	}
	imp := localstore.ImportanceNormal
	switch it.Importance {
	case "Low":
		imp = localstore.ImportanceLow
	case "High":
		imp = localstore.ImportanceHigh
	}
	return localstore.Item{
		ID:                localstore.ItemID(it.ID.ID),
		ChangeKey:         it.ID.ChangeKey,
		FolderID:          localstore.FolderID(it.ParentFolderID.ID),
		ItemClass:         it.ItemClass,
		Subject:           it.Subject,
		From:              addr(it.From),
		To:                list(it.ToRecipients),
		Cc:                list(it.CcRecipients),
		Received:          it.DateTimeReceived,
		Sent:              it.DateTimeSent,
		Size:              it.Size,
		IsRead:            it.IsRead,
		HasAttachments:    it.HasAttachments,
		Importance:        imp,
		Categories:        it.Categories,
		InternetMessageID: it.InternetMessageID,
		ConversationID:    it.ConversationID,
	}
}

// hierarchyKey is the debounce key for "the folder tree changed".
const hierarchyKey = "\x00hierarchy"

// followLive subscribes (streaming, all folders), starts the activity
// generator, and for cfg.live turns each debounced batch of dirty folders
// into syncs.
func (m *mirror) followLive(ctx context.Context, srv *ewstest.Server, cfg demoConfig, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := m.client.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer m.client.Unsubscribe(context.WithoutCancel(ctx), sub.ID, nil)
	conn, err := m.client.NewStreamingConnection(&ews.StreamingOptions{ConnectionTimeout: time.Minute})
	if err != nil {
		return err
	}
	if err := conn.Add(sub.ID); err != nil {
		return err
	}
	if err := conn.Start(ctx); err != nil {
		return err
	}
	defer conn.Close()

	batches := make(chan debounce.Batch[string, int], 16)
	deb, err := debounce.New(&debounce.Config{Quiet: cfg.quiet, MaxDelay: cfg.maxDelay},
		func(acc, v int) int { return acc + v },
		func(b debounce.Batch[string, int]) { batches <- b })
	if err != nil {
		return err
	}
	var events atomic.Int64
	go func() {
		for ev := range conn.Events() {
			if ev.Err != nil || ev.Notification == nil {
				continue
			}
			for _, e := range ev.Notification.Events {
				if e.Type == ews.EventStatus {
					continue
				}
				events.Add(1)
				if e.Folder {
					deb.Add(hierarchyKey, 1)
					continue
				}
				if e.ParentFolderID.ID != "" {
					deb.Add(e.ParentFolderID.ID, 1)
				}
				if e.OldParentFolderID.ID != "" {
					deb.Add(e.OldParentFolderID.ID, 1)
				}
			}
		}
	}()

	act, err := srv.StartActivity(ewstest.ActivityOptions{Rate: cfg.rate, Seed: cfg.seed})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "live: streaming subscription open; %g changes/s for %v, debounced %v quiet / %v max\n", cfg.rate, cfg.live, cfg.quiet, cfg.maxDelay)
	stop := time.After(cfg.live)
	var applied changeCount
	nb := 0
	for {
		var b debounce.Batch[string, int]
		var ok bool
		select {
		case <-ctx.Done():
			act.Stop()
			return ctx.Err()
		case <-stop:
			// Stop the changes and flush what is pending; events still in
			// flight are left to the reconciliation pass.
			act.Stop()
			stop = nil
			go func() {
				deb.Close(context.WithoutCancel(ctx))
				close(batches)
			}()
			continue
		case b, ok = <-batches:
		}
		if !ok {
			break
		}
		nb++
		var n changeCount
		var names []string
		hier := b.Overflow
		for _, it := range b.Items {
			hier = hier || it.Key == hierarchyKey
		}
		if hier {
			if err := m.syncHierarchy(ctx); err != nil {
				return err
			}
			names = append(names, "(hierarchy)")
			// Folders the hierarchy sync just brought in have no SyncState
			// yet: mirror their items now.
			for f, err := range m.store.Folders(ctx, m.mb) {
				if err == nil && f.SyncState == "" && !slices.ContainsFunc(b.Items, func(it debounce.Item[string, int]) bool { return it.Key == string(f.ID) }) {
					b.Items = append(b.Items, debounce.Item[string, int]{Key: string(f.ID)})
				}
			}
		}
		for _, it := range b.Items {
			if it.Key == hierarchyKey {
				continue
			}
			f, err := m.store.Folder(ctx, m.mb, localstore.FolderID(it.Key))
			if err != nil {
				continue // not mirrored (outside msgfolderroot, or gone)
			}
			c, err := m.syncFolder(ctx, it.Key)
			if err != nil {
				return err
			}
			n.add(c)
			if f.DisplayName == "" {
				f.DisplayName = fmt.Sprintf("(unnamed %.8s…)", f.ID)
			}
			names = append(names, f.DisplayName)
		}
		applied.add(n)
		fmt.Fprintf(out, "  batch %d: %d events → %s: %s\n", nb, b.Events(), strings.Join(names, ", "), n)
	}
	fmt.Fprintf(out, "live: %d changes made by the generator, %d events received, %d batches applied: %s\n", act.Total(), events.Load(), nb, applied)
	return nil
}

// compare checks every mirrored folder's item and unread counts against the
// fake server's own state.
func (m *mirror) compare(ctx context.Context, box *ewstest.Mailbox) error {
	var diffs []string
	for f, err := range m.store.Folders(ctx, m.mb) {
		if err != nil {
			return err
		}
		sf, err := box.Folder(string(f.ID))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: mirrored but not on the server", f.DisplayName))
			continue
		}
		if int64(sf.TotalCount) != f.LocalItems || int64(sf.UnreadCount) != f.LocalUnread {
			diffs = append(diffs, fmt.Sprintf("%s: server %d/%d unread, mirror %d/%d", f.DisplayName, sf.TotalCount, sf.UnreadCount, f.LocalItems, f.LocalUnread))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("mirror differs from the server:\n  %s", strings.Join(diffs, "\n  "))
	}
	return nil
}
