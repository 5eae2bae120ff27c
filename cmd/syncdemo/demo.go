package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// demoConfig is what the demo flags set.
type demoConfig struct {
	messages int
	folders  int
	duration time.Duration
	live     bool
	rate     float64
	outage   int
	seed     int64
	db       string
	quiet    time.Duration
	maxDelay time.Duration
}

// runDemo is the default command: mailsync end to end on an embedded fake
// Exchange. It seeds a mailbox, mirrors it with the sync engine into a
// store that stays after the demo, follows live activity through a
// streaming subscription, kills the subscription the way a server restart
// does (with changes made during the outage) and shows the recovery, then
// checks the mirror against the server.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg demoConfig
	fs.IntVar(&cfg.messages, "messages", 20000, "messages to seed")
	fs.IntVar(&cfg.folders, "folders", 30, "user folders to seed")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long the live phase runs")
	fs.BoolVar(&cfg.live, "live", false, "keep following live activity after the summary, until Ctrl-C")
	fs.Float64Var(&cfg.rate, "rate", 40, "changes per second made by the activity generator")
	fs.IntVar(&cfg.outage, "outage-changes", 200, "changes made while the subscription is lost")
	fs.Int64Var(&cfg.seed, "seed", 1, "seed for the mailbox and the activity")
	fs.StringVar(&cfg.db, "db", "", "mirror file (default: mailsync/demo.db under the user cache directory)")
	fs.DurationVar(&cfg.quiet, "quiet", 300*time.Millisecond, "debounce quiet window")
	fs.DurationVar(&cfg.maxDelay, "max-delay", 2*time.Second, "debounce maximum delay")
	if help, err := parseCommand(fs, args); help || err != nil {
		return err
	}
	if cfg.messages < 0 || cfg.folders < 0 || cfg.duration < 0 || cfg.rate <= 0 || cfg.outage < 0 {
		return fmt.Errorf("%w: -messages, -folders, -duration and -outage-changes must not be negative, -rate must be positive", errUsage)
	}
	return demo(ctx, cfg, stdout)
}

const (
	demoUser     = "alice"
	demoPassword = "secret"
	demoAddress  = "alice@example.com"
)

func demo(ctx context.Context, cfg demoConfig, out io.Writer) error {
	began := time.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := ewstest.NewServer(ewstest.Options{
		Users:  []ewstest.User{{Name: demoUser, Password: demoPassword, Address: demoAddress}},
		Auth:   ewstest.AuthOptions{Mode: "ntlm"},
		Logger: quiet,
	})
	defer srv.Close()
	box := srv.Mailbox(demoAddress)
	if _, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: cfg.messages, Folders: cfg.folders, Seed: cfg.seed}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(out, "fake Exchange at %s (NTLM, %s: %d messages in %d folders)\n", srv.URL, demoAddress, cfg.messages, len(box.Folders()))

	path := cfg.db
	if path == "" {
		p, err := defaultStorePath("demo.db")
		if err != nil {
			return err
		}
		path = p
	}
	store, err := localstore.Open(path, &localstore.Options{Logger: quiet})
	if err != nil {
		return storeOpenError(path, err)
	}
	defer store.Close()
	mb := localstore.Mailbox(demoAddress)
	// The fake server is new on every run, with new ids: a mirror left by an
	// earlier run describes another mailbox.
	if _, err := store.MailboxState(ctx, mb); err == nil {
		if err := store.RemoveMailbox(ctx, mb); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed the mirror of %s left by an earlier run\n", demoAddress)
	}

	client, err := ews.New(srv.URL, &ews.Options{Auth: ews.NTLM(demoUser, demoPassword), Logger: quiet})
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()

	d := &demoRun{out: out, events: make(chan syncengine.Event, 256)}
	eng, err := startEngine(ctx, store, syncengine.Config{
		Logger: quiet, Quiet: cfg.quiet, MaxDelay: cfg.maxDelay,
		StreamDownAfter: 10 * time.Second,
		OnEvent:         d.onEvent,
	}, syncengine.Mailbox{Address: demoAddress, Client: client})
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			eng.Close(context.WithoutCancel(ctx))
		}
	}()

	// 1. Initial mirror, with progress.
	ev, err := d.waitFor(ctx, syncengine.EventInitialSync, 5*time.Minute, func() { d.progress(eng) })
	if err != nil {
		return err
	}
	d.endProgress()
	b := ev.Batch
	took := b.Committed.Sub(b.Cut)
	fmt.Fprintf(out, "initial sync: %d folders, %d items in %v (%.0f items/s, %d requests) into %s\n",
		len(b.Folders), b.Created, took.Round(time.Millisecond), float64(b.Created)/max(took.Seconds(), 1e-9), b.Requests, path)

	// 2. Live: activity through the streaming subscription.
	fmt.Fprintf(out, "live: streaming subscription; %g changes/s for %v, debounced %v quiet / %v max\n", cfg.rate, cfg.duration, cfg.quiet, cfg.maxDelay)
	act, err := srv.StartActivity(ewstest.ActivityOptions{Rate: cfg.rate, Seed: cfg.seed})
	if err != nil {
		return err
	}
	d.showBatches = true
	if err := d.pump(ctx, cfg.duration); err != nil {
		act.Stop()
		return err
	}
	act.Stop()
	if err := d.converge(ctx, store, box, 30*time.Second); err != nil {
		return err
	}
	m := eng.Metrics()
	fmt.Fprintf(out, "live: %d changes made, %d events received, %d batches applied; median latency %v after the debounce window closed\n",
		act.Total(), m.Events, m.Batches, d.medianLatency().Round(time.Millisecond))

	// 3. Lose the subscription the way a server restart does, change the
	// mailbox during the outage, and watch the recovery.
	d.showBatches = false
	srv.Restart()
	stepper, err := srv.NewActivity(ewstest.ActivityOptions{Seed: cfg.seed + 1})
	if err != nil {
		return err
	}
	for range cfg.outage {
		if _, err := stepper.Step(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "outage: the server restarted (every subscription lost); %d changes made meanwhile\n", cfg.outage)
	ev, err = d.waitFor(ctx, syncengine.EventRecovery, time.Minute, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", ev.Recovery)
	if err := d.converge(ctx, store, box, 30*time.Second); err != nil {
		return err
	}

	// 4. Check the mirror against the server's real state.
	if err := store.Check(ctx); err != nil {
		return fmt.Errorf("mirror integrity: %w", err)
	}
	st, err := store.Stats(ctx, mb)
	if err != nil {
		return err
	}
	m = eng.Metrics()
	fmt.Fprintf(out, "mirror matches the server: %d folders, %d items, %d unread; integrity check passed\n", st.Folders, st.Items, st.Unread)
	fmt.Fprintf(out, "summary: %d requests, %d commits, %d item changes, %d batches, %d recoveries in %v\n",
		m.Requests, m.Commits, m.Items, m.Batches, m.Recoveries, time.Since(began).Round(100*time.Millisecond))

	// 5. What an app reads offline: the newest messages of the Inbox.
	inbox, err := box.FolderID("inbox")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "newest in Inbox (from the mirror):")
	for it, err := range store.Items(ctx, mb, localstore.FolderID(inbox), localstore.Query{Limit: 5}) {
		if err != nil {
			return err
		}
		mark := " "
		if !it.IsRead {
			mark = "*"
		}
		fmt.Fprintf(out, "  %s %s  %-28.28s %s\n", mark, it.Received.Format("2006-01-02 15:04"), it.From.Email, it.Subject)
	}

	if cfg.live {
		fmt.Fprintln(out, "live: following activity until Ctrl-C")
		act, err := srv.StartActivity(ewstest.ActivityOptions{Rate: cfg.rate, Seed: cfg.seed + 2})
		if err != nil {
			return err
		}
		d.showBatches = true
		<-ctx.Done()
		act.Stop()
	}
	closed = true
	if err := eng.Close(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	fmt.Fprintf(out, "the mirror stays in %s; look inside with:\n  syncdemo query -db %s folders\n", path, shellQuote(path))
	return nil
}

// demoRun prints what the engine reports.
type demoRun struct {
	out         io.Writer
	events      chan syncengine.Event
	showBatches bool
	nb          int
	mu          sync.Mutex
	latencies   []time.Duration
	barShown    bool
	lastLine    time.Time
}

// onEvent runs on the mailbox goroutine: it only queues.
func (d *demoRun) onEvent(ev syncengine.Event) {
	if ev.Kind == syncengine.EventBatch {
		d.mu.Lock()
		d.latencies = append(d.latencies, ev.Batch.Committed.Sub(ev.Batch.Cut))
		d.mu.Unlock()
	}
	select {
	case d.events <- ev:
	default: // the demo only loses a line, never engine work
	}
}

func (d *demoRun) medianLatency() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.latencies) == 0 {
		return 0
	}
	s := slices.Clone(d.latencies)
	slices.Sort(s)
	return s[len(s)/2]
}

func (d *demoRun) print(ev syncengine.Event) {
	switch ev.Kind {
	case syncengine.EventBatch:
		if !d.showBatches {
			return
		}
		d.nb++
		b := ev.Batch
		names := b.Folders
		if b.Hierarchy {
			names = append([]string{"(hierarchy)"}, names...)
		}
		if len(names) == 0 {
			names = []string{"(no mirrored folder)"}
		}
		if len(names) > 4 {
			names = append(names[:4:4], fmt.Sprintf("+%d more", len(names)-4))
		}
		fmt.Fprintf(d.out, "  batch %d: %d events → %s: %d created, %d updated, %d deleted, %d read flags; %v\n",
			d.nb, b.Events, strings.Join(names, ", "), b.Created, b.Updated, b.Deleted, b.ReadFlags, b.Committed.Sub(b.Cut).Round(time.Millisecond))
	case syncengine.EventError:
		fmt.Fprintf(d.out, "  backing off: %v\n", ev.Err)
	}
}

// pump prints events for dur.
func (d *demoRun) pump(ctx context.Context, dur time.Duration) error {
	t := time.NewTimer(dur)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case ev := <-d.events:
			d.print(ev)
		}
	}
}

// waitFor prints events until one of kind arrives; tick, when set, runs
// every 100 ms meanwhile.
func (d *demoRun) waitFor(ctx context.Context, kind syncengine.EventKind, timeout time.Duration, tick func()) (syncengine.Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return syncengine.Event{}, ctx.Err()
		case <-deadline.C:
			return syncengine.Event{}, fmt.Errorf("demo: no %v within %v", kindName(kind), timeout)
		case <-tk.C:
			if tick != nil {
				tick()
			}
		case ev := <-d.events:
			if ev.Kind == kind {
				return ev, nil
			}
			d.print(ev)
		}
	}
}

func kindName(k syncengine.EventKind) string {
	switch k {
	case syncengine.EventInitialSync:
		return "initial sync"
	case syncengine.EventRecovery:
		return "recovery"
	}
	return "event"
}

// progress shows the initial sync's progress: a bar on a terminal, a
// plain line every two seconds otherwise.
func (d *demoRun) progress(eng *syncengine.Engine) {
	for _, s := range eng.Status() {
		if s.Phase != syncengine.PhaseInitialSync || s.ItemsTotal == 0 {
			continue
		}
		frac := min(float64(s.ItemsDone)/float64(s.ItemsTotal), 1)
		if f, ok := d.out.(*os.File); ok && isTerminal(f) {
			const width = 30
			n := int(frac * width)
			fmt.Fprintf(d.out, "\r  [%s%s] %3.0f%%  %d/%d items, %d/%d folders ", strings.Repeat("#", n), strings.Repeat(".", width-n),
				frac*100, s.ItemsDone, s.ItemsTotal, s.FoldersDone, s.FoldersTotal)
			d.barShown = true
			continue
		}
		if time.Since(d.lastLine) >= 2*time.Second {
			d.lastLine = time.Now()
			fmt.Fprintf(d.out, "  initial sync: %d/%d items, %d/%d folders\n", s.ItemsDone, s.ItemsTotal, s.FoldersDone, s.FoldersTotal)
		}
	}
}

func (d *demoRun) endProgress() {
	if d.barShown {
		fmt.Fprint(d.out, "\r\033[K")
		d.barShown = false
	}
}

// converge waits until the mirror equals the server's state, re-checking
// after every commit.
func (d *demoRun) converge(ctx context.Context, store *localstore.Store, box *ewstest.Mailbox, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		notify := store.Notify()
		diffs, err := compareMirror(ctx, store, box)
		if err != nil {
			return err
		}
		if len(diffs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			if len(diffs) > 10 {
				diffs = append(diffs[:10:10], fmt.Sprintf("... %d more", len(diffs)-10))
			}
			return fmt.Errorf("mirror differs from the server after %v:\n  %s", timeout, strings.Join(diffs, "\n  "))
		case ev := <-d.events:
			d.print(ev)
		case <-notify:
		}
	}
}

// compareMirror compares every mirrored mail folder with the server's:
// counts, and each item's change key and read flag.
func compareMirror(ctx context.Context, store *localstore.Store, box *ewstest.Mailbox) ([]string, error) {
	mb := localstore.Mailbox(box.Address())
	var diffs []string
	for f, err := range store.Folders(ctx, mb) {
		if err != nil {
			return nil, err
		}
		sf, err := box.Folder(string(f.ID))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: mirrored but not on the server", f.DisplayName))
			continue
		}
		if f.DisplayName != sf.DisplayName {
			diffs = append(diffs, fmt.Sprintf("%s: named %q on the server", f.DisplayName, sf.DisplayName))
		}
		if f.SyncState == "" {
			continue // not item-synced (not a mail folder)
		}
		if int64(sf.TotalCount) != f.LocalItems || int64(sf.UnreadCount) != f.LocalUnread {
			diffs = append(diffs, fmt.Sprintf("%s: server %d/%d unread, mirror %d/%d", f.DisplayName, sf.TotalCount, sf.UnreadCount, f.LocalItems, f.LocalUnread))
			continue
		}
		items, err := box.Items(sf.ID)
		if err != nil {
			return nil, err
		}
		bad := 0
		for _, it := range items {
			mi, err := store.Item(ctx, mb, localstore.ItemID(it.ID))
			if how := itemDiff(mi, err, it, sf.ID); how != "" {
				diffs = append(diffs, fmt.Sprintf("%s: item %q (%s) %s", f.DisplayName, it.Message.Subject, it.ID, how))
				if bad++; bad == 3 {
					break // enough to tell what happened
				}
			}
		}
	}
	return diffs, nil
}

// itemDiff says how the mirrored item (or the error reading it) differs
// from the server's, or "" when it does not.
func itemDiff(mi localstore.Item, err error, it ewstest.ItemInfo, folder string) string {
	switch {
	case err != nil:
		return fmt.Sprintf("is not mirrored (%v)", err)
	case string(mi.FolderID) != folder:
		return fmt.Sprintf("is mirrored in folder %s", mi.FolderID)
	case mi.IsRead != it.Message.IsRead:
		return fmt.Sprintf("is read=%v on the server, read=%v in the mirror (change key %s, mirror %s)", it.Message.IsRead, mi.IsRead, it.ChangeKey, mi.ChangeKey)
	case mi.ChangeKey != it.ChangeKey:
		return fmt.Sprintf("has change key %s on the server, %s in the mirror", it.ChangeKey, mi.ChangeKey)
	}
	return ""
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " '\"\\$`") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
