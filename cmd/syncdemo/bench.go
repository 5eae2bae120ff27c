package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/mailsync/mailsync/debounce"
)

// "syncdemo bench" runs the end-to-end performance scenarios of DESIGN.md's
// budget against an in-process ewstest over loopback HTTP, so anyone can
// check the budget with one command; it is the one implementation of these
// scenarios (-scenarios picks some, -quick checks that they run):
//
//   - initialMirror: Engine.SyncOnce of a seeded mailbox (-messages in
//     -folders) into a fresh, durable store; messages/s, MB/s received over
//     the wire (a counting http.RoundTripper), HTTP requests, and the peak
//     RSS of the process during the mirror (VmHWM, reset before the mirror
//     where /proc/self/clear_refs allows). By default the fake runs as a
//     child "syncdemo serve", so that the figures are the engine's alone,
//     as the budget means them; -fake-process=false runs it in the process
//     (its CPU then competes with the engine's, and its memory counts).
//   - floors: the same SyncFolderItems page stream decoded without storing
//     (the XML floor: the ews client over every synced folder, changes
//     discarded) and stored without decoding (the bbolt floor: the pages
//     decoded beforehand into localstore.Batch values, only Apply timed), both
//     with the engine's folder concurrency; each says how close the mirror
//     came to it.
//   - live: -rate changes/s from the fake's activity generator for
//     -live-duration through a streaming subscription, debounced by
//     -quiet/-max-delay; the p50/p95/p99 of each batch's commit time after
//     the debouncer's cut (the budget's "after the debounce window closes")
//     and after the batch's first event.
//   - recovery: the engine's recovery after a lost subscription versus
//     resubscribing with the old watermark and replaying its events
//     (-recovery-folders, about -recovery-events events in 5 folders); both
//     must end with the same mirror.
//   - query: the newest 50 items of a -query-items folder from the store,
//     the median of -query-reads reads.
//   - idle: -idle-mailboxes mailboxes on streaming subscriptions in one
//     engine through a service account that impersonates each of them,
//     every 200 sharing a stream client that impersonates the group's
//     anchor; once all are live, the process CPU (utime+stime from
//     /proc/self/stat) over -idle-window as % of one core, and RSS and Go
//     heap. Both include the in-process fake.
//
// The table goes to stdout, progress to stderr; -json prints one JSON object
// instead of the table (field names in benchResult and the types it holds;
// durations as ...Ms/...Us/seconds, sizes in MB of 10^6 bytes). The budget
// lines compare with DESIGN.md's budget, OK or MISS and by how much.
// -scenarios picks some of mirror (with the floors), live, recovery, query
// and idle. The defaults take about a minute on a 2-core machine;
// -idle-mailboxes 10000 is the budget's size (a few minutes). -quick runs
// tiny sizes to check that the command works (flags given explicitly win).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := defaultBenchConfig()
	var scenarios string
	fs.IntVar(&c.messages, "messages", c.messages, "initial mirror: messages to seed")
	fs.IntVar(&c.folders, "folders", c.folders, "initial mirror: user folders to seed")
	fs.BoolVar(&c.fakeProcess, "fake-process", c.fakeProcess, "initial mirror: run its fake as a child \"syncdemo serve\", so that the figures are the engine's alone (false: in this process)")
	fs.Float64Var(&c.rate, "rate", c.rate, "live: changes per second made by the activity generator")
	fs.DurationVar(&c.liveDuration, "live-duration", c.liveDuration, "live: how long the activity runs")
	fs.IntVar(&c.liveMessages, "live-messages", c.liveMessages, "live: messages to seed")
	fs.DurationVar(&c.quiet, "quiet", c.quiet, "live: debounce quiet window")
	fs.DurationVar(&c.maxDelay, "max-delay", c.maxDelay, "live: debounce maximum delay")
	fs.IntVar(&c.recoveryFolders, "recovery-folders", c.recoveryFolders, "recovery: user folders to seed (20 messages each)")
	fs.IntVar(&c.recoveryEvents, "recovery-events", c.recoveryEvents, "recovery: about this many events during the outage, in 5 folders")
	fs.IntVar(&c.queryItems, "query-items", c.queryItems, "query: items in the folder")
	fs.IntVar(&c.queryReads, "query-reads", c.queryReads, "query: timed reads of the newest 50")
	fs.IntVar(&c.idleMailboxes, "idle-mailboxes", c.idleMailboxes, "idle: streaming mailboxes (the budget's size is 10000)")
	fs.DurationVar(&c.idleWindow, "idle-window", c.idleWindow, "idle: CPU measurement window")
	fs.DurationVar(&c.idleStartTimeout, "idle-start-timeout", c.idleStartTimeout, "idle: how long the mailboxes may take to go live")
	fs.IntVar(&c.idleConnectionLimit, "idle-connection-limit", 0, "idle: the fake's streaming connections per account (default the fake's 3; raised automatically if that blocks)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(benchScenarios, ","), "scenarios to run, comma-separated: "+strings.Join(benchScenarios, ", "))
	fs.BoolVar(&c.json, "json", false, "print one JSON object instead of the table")
	fs.BoolVar(&c.quick, "quick", false, "tiny sizes, to check that the command works (explicit flags win)")
	fs.StringVar(&c.dir, "dir", "", "directory for the temporary stores (default the system's temporary directory)")
	var prof profileFlags
	prof.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bench takes no arguments", errUsage)
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		c.applyQuick(set)
	}
	c.scenarios = map[string]bool{}
	for _, s := range strings.Split(scenarios, ",") {
		s = strings.TrimSpace(s)
		if s == "floors" {
			s = "mirror"
		}
		if !slices.Contains(benchScenarios, s) {
			return fmt.Errorf("%w: unknown scenario %q (want %s)", errUsage, s, strings.Join(benchScenarios, ", "))
		}
		c.scenarios[s] = true
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	stopProfile, err := prof.start()
	if err != nil {
		return err
	}
	res, err := bench(ctx, c, stderr)
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.print(stdout)
	return nil
}

// benchScenarios lists the scenarios in the order they run.
var benchScenarios = []string{"mirror", "live", "recovery", "query", "idle"}

// benchConfig is what the bench flags set.
type benchConfig struct {
	messages, folders   int
	fakeProcess         bool
	rate                float64
	liveDuration        time.Duration
	liveMessages        int
	quiet, maxDelay     time.Duration
	recoveryFolders     int
	recoveryEvents      int
	queryItems          int
	queryReads          int
	idleMailboxes       int
	idleWindow          time.Duration
	idleStartTimeout    time.Duration
	idleConnectionLimit int
	scenarios           map[string]bool
	json, quick         bool
	dir                 string
}

func defaultBenchConfig() benchConfig {
	return benchConfig{
		messages: 100_000, folders: 50, fakeProcess: true,
		rate: 200, liveDuration: 10 * time.Second, liveMessages: 20_000,
		quiet: 100 * time.Millisecond, maxDelay: 500 * time.Millisecond,
		recoveryFolders: 1000, recoveryEvents: 50_000,
		queryItems: 100_000, queryReads: 2000,
		idleMailboxes: 1000, idleWindow: 10 * time.Second, idleStartTimeout: 10 * time.Minute,
	}
}

// applyQuick sets the tiny sizes of -quick on the flags not given.
func (c *benchConfig) applyQuick(set map[string]bool) {
	q := map[string]func(){
		"messages":         func() { c.messages = 2000 },
		"folders":          func() { c.folders = 5 },
		"rate":             func() { c.rate = 100 },
		"live-duration":    func() { c.liveDuration = 2 * time.Second },
		"live-messages":    func() { c.liveMessages = 500 },
		"recovery-folders": func() { c.recoveryFolders = 30 },
		"recovery-events":  func() { c.recoveryEvents = 1000 },
		"query-items":      func() { c.queryItems = 2000 },
		"query-reads":      func() { c.queryReads = 100 },
		"idle-mailboxes":   func() { c.idleMailboxes = 20 },
		"idle-window":      func() { c.idleWindow = time.Second },
	}
	for name, f := range q {
		if !set[name] {
			f()
		}
	}
}

func (c *benchConfig) validate() error {
	switch {
	case c.messages < 1 || c.folders < 0:
		return errors.New("-messages must be positive and -folders not negative")
	case c.rate <= 0 || c.liveDuration <= 0 || c.liveMessages < 1:
		return errors.New("-rate, -live-duration and -live-messages must be positive")
	case c.quiet <= 0 || c.maxDelay < c.quiet:
		return errors.New("-quiet must be positive and -max-delay at least -quiet")
	case c.recoveryFolders < 5 || c.recoveryEvents < 100:
		return errors.New("-recovery-folders must be at least 5 and -recovery-events at least 100")
	case c.queryItems < 50 || c.queryReads < 1:
		return errors.New("-query-items must be at least 50 and -query-reads positive")
	case c.idleMailboxes < 1 || c.idleWindow <= 0 || c.idleStartTimeout <= 0 || c.idleConnectionLimit < 0:
		return errors.New("-idle-mailboxes, -idle-window and -idle-start-timeout must be positive")
	}
	return nil
}

// benchResult is the JSON object "syncdemo bench -json" prints. A section
// is absent when its scenario did not run.
type benchResult struct {
	InitialMirror *mirrorResult   `json:"initialMirror,omitempty"`
	Floors        *floorsResult   `json:"floors,omitempty"`
	Live          *liveResult     `json:"live,omitempty"`
	Recovery      *recoveryResult `json:"recovery,omitempty"`
	Query         *queryResult    `json:"query,omitempty"`
	Idle          *idleResult     `json:"idle,omitempty"`
	// Budget compares the figures with DESIGN.md's budget.
	Budget []budgetLine `json:"budget"`
	// Machine describes where the figures were taken.
	Machine machineInfo `json:"machine"`
	// Seconds is the wall time of the whole run.
	Seconds float64 `json:"seconds"`
}

// machineInfo describes the machine and the build.
type machineInfo struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// bench runs the selected scenarios, reporting progress to log.
func bench(ctx context.Context, c benchConfig, log io.Writer) (*benchResult, error) {
	began := time.Now()
	dir, err := os.MkdirTemp(c.dir, "syncdemo-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &benchRun{cfg: c, dir: dir, log: log, quiet: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res := &benchResult{Machine: machineInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}}
	steps := []struct {
		name string
		run  func(context.Context, *benchResult) error
	}{
		{"mirror", r.mirrorAndFloors},
		{"live", r.live},
		{"recovery", r.recovery},
		{"query", r.query},
		{"idle", r.idle},
	}
	for _, s := range steps {
		if !c.scenarios[s.name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Each scenario starts without the previous one's garbage.
		runtime.GC()
		debug.FreeOSMemory()
		if err := s.run(ctx, res); err != nil {
			return nil, fmt.Errorf("bench %s: %w", s.name, err)
		}
	}
	res.Budget = budgetOf(c, res)
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// benchRun is one run of the scenarios.
type benchRun struct {
	cfg   benchConfig
	dir   string
	log   io.Writer
	quiet *slog.Logger
}

func (r *benchRun) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

// sleepCtx waits d, or less if ctx ends first: the measurement windows.
func sleepCtx(ctx context.Context, d time.Duration) error {
	return debounce.Sleep(ctx, debounce.SystemClock{}, d)
}

const (
	benchUser     = "bench"
	benchPassword = "secret"
	benchAddress  = "bench@example.com"
)
