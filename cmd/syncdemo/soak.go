package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// soakConfig is what the soak flags set.
type soakConfig struct {
	duration   time.Duration
	every      time.Duration
	rate       float64
	messages   int
	folders    int
	mode       syncengine.Mode
	seed       uint64
	db         string
	convergeIn time.Duration
}

// runSoak implements "syncdemo soak": the engine against the fake for a
// while, with activity and a random fault every few seconds; after each
// fault the activity pauses and the time until the mirror equals the
// server is measured; at the end the mirror is checked exactly.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c soakConfig
	var mode string
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to run")
	fs.DurationVar(&c.every, "fault-every", 3*time.Second, "time between faults")
	fs.Float64Var(&c.rate, "rate", 50, "changes per second made by the activity generator")
	fs.IntVar(&c.messages, "messages", 5000, "messages to seed")
	fs.IntVar(&c.folders, "folders", 20, "user folders to seed")
	fs.StringVar(&mode, "mode", "streaming", "notifications: streaming, pull or push")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the content, the activity and the faults")
	fs.StringVar(&c.db, "db", "", "mirror file (default: a temporary file, removed at the end)")
	fs.DurationVar(&c.convergeIn, "converge-timeout", 0, "how long the mirror may take to converge after a fault (default 1m; 3m in push mode, where a lost subscription shows only after 2 × StatusFrequency)")
	if help, err := parseCommand(fs, args); help || err != nil {
		return err
	}
	var err error
	if c.mode, err = syncengine.ParseMode(mode); err != nil {
		return fmt.Errorf("%w: -mode must be streaming, pull or push", errUsage)
	}
	if c.convergeIn == 0 {
		c.convergeIn = time.Minute
		if c.mode == syncengine.Push {
			c.convergeIn = 3 * time.Minute
		}
	}
	if c.duration <= 0 || c.every <= 0 || c.rate <= 0 || c.messages < 0 || c.folders < 0 {
		return fmt.Errorf("%w: -duration, -fault-every and -rate must be positive", errUsage)
	}
	return soak(ctx, c, stdout)
}

// fault is one kind of trouble the soak injects.
type fault struct {
	name   string
	modes  []syncengine.Mode // nil: every mode
	inject func(s *soakRun) func()
}

var faults = []fault{
	{"server restart (all subscriptions lost)", nil, func(s *soakRun) func() { s.srv.Restart(); return nil }},
	{"streaming connections dropped", []syncengine.Mode{syncengine.Streaming}, func(s *soakRun) func() {
		s.srv.DropStreamingConnections("")
		return nil
	}},
	{"streaming connection stalled", []syncengine.Mode{syncengine.Streaming}, func(s *soakRun) func() {
		s.srv.Faults().SetHook(func(op, _ string) *ewstest.Fault {
			if op == "GetStreamingEvents" {
				return &ewstest.Fault{Code: "ErrorInternalServerError", Message: "soak: stalled"}
			}
			return nil
		})
		s.srv.DropStreamingConnections("")
		return func() { s.srv.Faults().SetHook(nil) }
	}},
	{"ErrorServerBusy burst", nil, func(s *soakRun) func() { s.srv.Faults().ServerBusy(20, 200*time.Millisecond); return nil }},
	{"latency spike", nil, func(s *soakRun) func() {
		s.srv.Faults().SetLatency(300 * time.Millisecond)
		return func() { s.srv.Faults().SetLatency(0) }
	}},
	{"mailbox move", nil, func(s *soakRun) func() {
		s.moves++
		s.srv.MoveMailbox(demoAddress, fmt.Sprintf("DB%02d", s.moves%10+2))
		return nil
	}},
	{"watermark expiry", nil, func(s *soakRun) func() { s.srv.ExpireWatermarks(demoAddress); return nil }},
	{"invalid sync states", nil, func(s *soakRun) func() { s.srv.Faults().InvalidSyncState(3); return nil }},
	{"dropped connections", nil, func(s *soakRun) func() { s.srv.Faults().DropConnections(5); return nil }},
}

type soakRun struct {
	srv   *ewstest.Server
	moves int
}

func soak(ctx context.Context, c soakConfig, out io.Writer) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := ewstest.NewServer(ewstest.Options{
		Users:  []ewstest.User{{Name: demoUser, Password: demoPassword, Address: demoAddress}},
		Logger: quiet,
	})
	defer srv.Close()
	box := srv.Mailbox(demoAddress)
	if _, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: c.messages, Folders: c.folders, Seed: int64(c.seed)}); err != nil {
		return err
	}
	path := c.db
	if path == "" {
		dir, err := os.MkdirTemp("", "syncdemo-soak-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "soak.db")
	}
	store, err := localstore.Open(path, &localstore.Options{Logger: quiet})
	if err != nil {
		return storeOpenError(path, err)
	}
	defer store.Close()
	if _, err := store.MailboxState(ctx, demoAddress); err == nil {
		if err := store.RemoveMailbox(ctx, demoAddress); err != nil {
			return err
		}
	}
	client, err := ews.New(srv.URL, &ews.Options{Logger: quiet})
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	recoveries := make(chan syncengine.Event, 64)
	trace := &soakTrace{}
	cfg := syncengine.Config{
		Logger: quiet, Quiet: 100 * time.Millisecond, MaxDelay: time.Second,
		PullInterval: 500 * time.Millisecond, StreamDownAfter: 2 * time.Second,
		RecheckPause: 20 * time.Millisecond, // a few hundred folders within the convergence timeout
		Backoff:      ews.Backoff{Base: 100 * time.Millisecond, Max: 2 * time.Second},
		OnEvent: func(ev syncengine.Event) {
			trace.event(ev)
			if ev.Kind == syncengine.EventRecovery || ev.Kind == syncengine.EventInitialSync {
				select {
				case recoveries <- ev:
				default:
				}
			}
		},
	}
	if c.mode == syncengine.Push {
		cfg.Push = syncengine.PushConfig{Listen: "127.0.0.1:0", LivenessSlack: 5 * time.Second}
	}
	eng, err := startEngine(ctx, store, cfg, syncengine.Mailbox{Address: demoAddress, Client: client, Mode: c.mode})
	if err != nil {
		return err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(out, "soak: %s mode, %v, a fault every %v, %g changes/s, %d messages\n", c.mode, c.duration, c.every, c.rate, c.messages)
	select {
	case <-recoveries: // the initial sync
	case <-time.After(5 * time.Minute):
		return errors.New("soak: the initial sync did not finish")
	case <-ctx.Done():
		return ctx.Err()
	}

	rng := rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	run := &soakRun{srv: srv}
	var usable []fault
	for _, f := range faults {
		if f.modes == nil || slices.Contains(f.modes, c.mode) {
			usable = append(usable, f)
		}
	}
	d := &demoRun{out: io.Discard, events: make(chan syncengine.Event, 1)}
	counts := map[string]int{}
	var converge []time.Duration
	end := time.Now().Add(c.duration)
	var changes int64
	for i := 0; time.Now().Before(end); i++ {
		round := time.Now()
		act, err := srv.StartActivity(ewstest.ActivityOptions{Rate: c.rate, Seed: int64(c.seed) + int64(i), OnChange: trace.change})
		if err != nil {
			return err
		}
		f := usable[rng.IntN(len(usable))]
		time.Sleep(c.every / 2)
		trace.add("", "fault: "+f.name)
		undo := f.inject(run)
		counts[f.name]++
		time.Sleep(c.every / 2)
		act.Stop()
		changes += act.Total()
		if undo != nil {
			undo()
		}
		start := time.Now()
		trace.add("", "activity stopped")
		if err := d.converge(ctx, store, box, c.convergeIn); err != nil {
			trace.explain(out, round.Add(-10*time.Second), err.Error())
			return fmt.Errorf("soak: after %q: %w", f.name, err)
		}
		took := time.Since(start)
		converge = append(converge, took)
		fmt.Fprintf(out, "  fault %d: %-42s converged in %v\n", i+1, f.name, took.Round(time.Millisecond))
	}
	if err := store.Check(ctx); err != nil {
		return fmt.Errorf("soak: mirror integrity: %w", err)
	}
	diffs, err := compareMirror(ctx, store, box)
	if err != nil || len(diffs) > 0 {
		return fmt.Errorf("soak: final check: %v %v", err, diffs)
	}
	m := eng.Metrics()
	slices.Sort(converge)
	var names []string
	for n := range counts {
		names = append(names, fmt.Sprintf("%s ×%d", n, counts[n]))
	}
	slices.Sort(names)
	fmt.Fprintf(out, "faults injected: %d (%s)\n", len(converge), strings.Join(names, ", "))
	fmt.Fprintf(out, "recoveries %d, batches %d, throttled back-offs %d, requests %d, changes made %d\n", m.Recoveries, m.Batches, m.Throttles, m.Requests, changes)
	fmt.Fprintf(out, "rechecks after recoveries: %d folders, %d with changes (read flips during an outage that left the counts unchanged, or changes newer than the recovery)\n", m.Rechecked, m.RecheckRepairs)
	if len(converge) > 0 {
		fmt.Fprintf(out, "convergence after a fault: median %v, max %v\n", converge[len(converge)/2].Round(time.Millisecond), converge[len(converge)-1].Round(time.Millisecond))
	}
	fmt.Fprintln(out, "final check: the mirror equals the server (every folder, item, change key and read flag); integrity check passed")
	return nil
}
