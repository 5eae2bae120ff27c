package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// mirrorResult is the initial mirror: Engine.SyncOnce of a seeded mailbox
// into a fresh, durable store over loopback HTTP.
type mirrorResult struct {
	// Messages is the number of item changes mirrored; Folders the number
	// of folders synced item by item.
	Messages int64 `json:"messages"`
	Folders  int   `json:"folders"`
	// Seconds is the SyncOnce wall time.
	Seconds           float64 `json:"seconds"`
	MessagesPerSecond float64 `json:"messagesPerSecond"`
	// MBPerSecond is response bytes received per second; WireMB the bytes
	// both ways in total.
	MBPerSecond float64 `json:"mbPerSecond"`
	WireMB      float64 `json:"wireMB"`
	// PeakRSSMB is the process's peak RSS during the mirror (VmHWM, reset
	// before it when the kernel allows; else the peak since the start),
	// fake server included; BaseRSSMB the RSS just before the mirror,
	// with the seeded fake and nothing mirrored yet.
	PeakRSSMB      float64 `json:"peakRssMB"`
	BaseRSSMB      float64 `json:"baseRssMB"`
	PeakRSSIsReset bool    `json:"peakRssIsReset"`
	// FakeInProcess is false by default: the fake ran as a child
	// "syncdemo serve", so the figures are the engine's alone.
	FakeInProcess bool `json:"fakeInProcess"`
	// Requests counts HTTP round trips; EWSRequests the EWS calls the
	// engine counted.
	Requests    int64 `json:"requests"`
	EWSRequests int64 `json:"ewsRequests"`
}

// floorsResult is the ceiling report: the initial mirror's page stream
// decoded without storing, and stored without decoding.
type floorsResult struct {
	// Items and Folders are what both floors went through; Concurrency is
	// the folders handled at once (the engine's FolderConcurrency).
	Items       int64 `json:"items"`
	Folders     int   `json:"folders"`
	Concurrency int   `json:"concurrency"`
	// XMLItemsPerSecond: SyncFolderItems over every folder through the ews
	// client, each page decoded and discarded (server time included: the
	// fake runs in the process).
	XMLSeconds        float64 `json:"xmlSeconds"`
	XMLItemsPerSecond float64 `json:"xmlItemsPerSecond"`
	// StoreItemsPerSecond: the same pages, decoded beforehand into
	// localstore.Batch values (items and checkpoints, as the engine
	// builds them), applied to a fresh durable store.
	StoreSeconds        float64 `json:"storeSeconds"`
	StoreItemsPerSecond float64 `json:"storeItemsPerSecond"`
	// SerialItemsPerSecond is the rate if decode and store never
	// overlapped: 1 / (1/xml + 1/store).
	SerialItemsPerSecond float64 `json:"serialItemsPerSecond"`
	// MirrorOfXML and MirrorOfStore are the initial mirror's rate as a
	// fraction of each floor (1 = at the limit).
	MirrorOfXML   float64 `json:"mirrorOfXml"`
	MirrorOfStore float64 `json:"mirrorOfStore"`
}

// mirrorAndFloors runs the initial mirror, then both floors on the same
// server and folders.
func (r *benchRun) mirrorAndFloors(ctx context.Context, res *benchResult) error {
	c := r.cfg
	r.logf("initial mirror: seeding %d messages in %d folders", c.messages, c.folders)
	url, stop, err := r.startMirrorFake(ctx)
	if err != nil {
		return err
	}
	defer stop()
	m, store, err := r.initialMirror(ctx, url)
	if err != nil {
		return err
	}
	defer store.Close()
	m.FakeInProcess = !c.fakeProcess
	res.InitialMirror = m
	r.logf("initial mirror: %d messages in %.2f s (%.0f msgs/s)", m.Messages, m.Seconds, m.MessagesPerSecond)

	// The folders the engine synced, with what it stored of them.
	var folders []localstore.Folder
	for f, err := range store.Folders(ctx, benchAddress) {
		if err != nil {
			return err
		}
		if f.SyncState != "" {
			folders = append(folders, f)
		}
	}
	fl, err := r.floors(ctx, url, folders)
	if err != nil {
		return err
	}
	fl.MirrorOfXML = m.MessagesPerSecond / fl.XMLItemsPerSecond
	fl.MirrorOfStore = m.MessagesPerSecond / fl.StoreItemsPerSecond
	res.Floors = fl
	r.logf("floors: XML %.0f items/s, bbolt %.0f items/s", fl.XMLItemsPerSecond, fl.StoreItemsPerSecond)
	return nil
}

func (r *benchRun) newClient(url string, ct *countingTransport, o ews.Options) (*ews.Client, error) {
	o.HTTPClient = ct.client()
	o.Logger = r.quiet
	if o.Auth == nil {
		o.Auth = ews.Basic(benchUser, benchPassword)
	}
	return ews.New(url, &o)
}

// initialMirror mirrors the seeded mailbox with SyncOnce into a fresh
// store and returns the figures and the store.
func (r *benchRun) initialMirror(ctx context.Context, url string) (*mirrorResult, *localstore.Store, error) {
	store, err := localstore.Open(filepath.Join(r.dir, "mirror.db"), &localstore.Options{Logger: r.quiet})
	if err != nil {
		return nil, nil, err
	}
	ct := newCountingTransport()
	defer ct.closeIdle()
	client, err := r.newClient(url, ct, ews.Options{})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	var folders atomic.Int64
	eng, err := syncengine.New(store, syncengine.Config{Logger: r.quiet, OnEvent: func(ev syncengine.Event) {
		if ev.Kind == syncengine.EventSyncPass {
			folders.Store(int64(len(ev.Batch.Folders)))
		}
	}})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	if err := eng.AddMailbox(ctx, syncengine.Mailbox{Address: benchAddress, Client: client}); err != nil {
		store.Close()
		return nil, nil, err
	}
	reset := resetPeakRSS()
	base, _ := procStatus("VmRSS")
	start := time.Now()
	err = eng.SyncOnce(ctx)
	el := time.Since(start)
	peak, _ := procStatus("VmHWM")
	met := eng.Metrics()
	if cerr := eng.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("sync: %w", err)
	}
	return &mirrorResult{
		Messages:          met.Items,
		Folders:           int(folders.Load()),
		Seconds:           el.Seconds(),
		MessagesPerSecond: float64(met.Items) / el.Seconds(),
		MBPerSecond:       mb(ct.received.Load()) / el.Seconds(),
		WireMB:            mb(ct.received.Load() + ct.sent.Load()),
		PeakRSSMB:         mb(peak),
		BaseRSSMB:         mb(base),
		PeakRSSIsReset:    reset,
		Requests:          ct.requests.Load(),
		EWSRequests:       met.Requests,
	}, store, nil
}

// floors measures the XML floor and the bbolt floor over folders, the
// folders the initial mirror synced.
func (r *benchRun) floors(ctx context.Context, url string, folders []localstore.Folder) (*floorsResult, error) {
	ct := newCountingTransport()
	defer ct.closeIdle()
	client, err := r.newClient(url, ct, ews.Options{})
	if err != nil {
		return nil, err
	}
	conc := syncengine.DefaultFolderConcurrency
	fl := &floorsResult{Folders: len(folders), Concurrency: conc}

	// The XML floor: every page decoded, nothing kept.
	r.logf("floors: decoding %d folders without storing", len(folders))
	var items atomic.Int64
	start := time.Now()
	err = forFolders(ctx, folders, conc, func(ctx context.Context, i int) error {
		for page, err := range syncPages(ctx, client, folders[i].ID) {
			if err != nil {
				return err
			}
			items.Add(int64(len(page.Changes)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("XML floor: %w", err)
	}
	el := time.Since(start)
	fl.Items = items.Load()
	fl.XMLSeconds = el.Seconds()
	fl.XMLItemsPerSecond = float64(fl.Items) / el.Seconds()

	// The bbolt floor: decode into batches first (not timed), then apply.
	r.logf("floors: storing %d folders' pages without decoding", len(folders))
	batches := make([][]localstore.Batch, len(folders))
	var mu sync.Mutex
	err = forFolders(ctx, folders, conc, func(ctx context.Context, i int) error {
		f := folders[i]
		var bs []localstore.Batch
		for page, err := range syncPages(ctx, client, f.ID) {
			if err != nil {
				return err
			}
			b := localstore.Batch{Mailbox: benchAddress}
			if len(bs) == 0 {
				b.Folders = []localstore.FolderInfo{f.FolderInfo}
			}
			for j := range page.Changes {
				if ch := &page.Changes[j]; ch.Kind == ews.ChangeCreate || ch.Kind == ews.ChangeUpdate {
					b.Items = append(b.Items, syncengine.StoreItem(&ch.Item, f.ID))
				}
			}
			cp := localstore.FolderSync{SyncState: page.SyncState, LocalCommitTimeMax: f.LocalCommitTimeMax, DeletedCountTotal: f.DeletedCountTotal}
			if page.IncludesLastItemInRange {
				cp.LastSynced = f.LastSynced
			}
			b.Checkpoints = []localstore.Checkpoint{{ID: f.ID, FolderSync: cp}}
			bs = append(bs, b)
		}
		mu.Lock()
		batches[i] = bs
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bbolt floor: %w", err)
	}
	store, err := localstore.Open(filepath.Join(r.dir, "floor.db"), &localstore.Options{Logger: r.quiet})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	// The folders' parents, as the hierarchy sync stores them first.
	var tree localstore.Batch
	tree.Mailbox = benchAddress
	for _, f := range folders {
		tree.Folders = append(tree.Folders, f.FolderInfo)
	}
	if err := store.Apply(ctx, tree); err != nil {
		return nil, fmt.Errorf("bbolt floor: %w", err)
	}
	start = time.Now()
	err = forFolders(ctx, folders, conc, func(ctx context.Context, i int) error {
		for _, b := range batches[i] {
			if err := store.Apply(ctx, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bbolt floor: %w", err)
	}
	el = time.Since(start)
	fl.StoreSeconds = el.Seconds()
	fl.StoreItemsPerSecond = float64(fl.Items) / el.Seconds()
	fl.SerialItemsPerSecond = 1 / (1/fl.XMLItemsPerSecond + 1/fl.StoreItemsPerSecond)
	return fl, nil
}

// forFolders runs f for every folder index, conc at a time.
func forFolders(ctx context.Context, folders []localstore.Folder, conc int, f func(context.Context, int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i := range folders {
		g.Go(func() error { return f(ctx, i) })
	}
	return g.Wait()
}

// syncPages is a first SyncFolderItems of a folder with the engine's
// summary shape, page after page.
func syncPages(ctx context.Context, c *ews.Client, id localstore.FolderID) func(func(*ews.SyncFolderItemsResult, error) bool) {
	return c.SyncFolderItemsPages(ctx, ews.SyncFolderItemsRequest{Folder: ews.FolderRef{ID: string(id)}, Shape: ews.MessageMetadataShape(false)})
}

// startMirrorFake starts the fake with the seeded mailbox of the initial
// mirror: in this process, or with -fake-process as a child "syncdemo
// serve" on a free loopback port. It returns the EWS URL and a function
// that stops the fake.
func (r *benchRun) startMirrorFake(ctx context.Context) (string, func(), error) {
	c := r.cfg
	if !c.fakeProcess {
		srv := ewstest.NewServer(ewstest.Options{
			Users:  []ewstest.User{{Name: benchUser, Password: benchPassword, Address: benchAddress}},
			Auth:   ewstest.AuthOptions{Mode: ewstest.AuthBasic},
			Logger: r.quiet,
		})
		if _, err := ewstest.Seed(srv.Mailbox(benchAddress), ewstest.SeedOptions{Messages: c.messages, Folders: c.folders, Seed: 3}); err != nil {
			srv.Close()
			return "", nil, fmt.Errorf("seed: %w", err)
		}
		return srv.URL, srv.Close, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-auth", ewstest.AuthBasic, "-users", benchUser,
		"-messages", strconv.Itoa(c.messages), "-folders", strconv.Itoa(c.folders), "-seed", "3")
	cmd.Env = append(os.Environ(), envServePassword+"="+benchPassword)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start the fake: %w", err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	lines := bufio.NewScanner(out)
	urlc := make(chan string, 1)
	go func() {
		first := true
		for lines.Scan() { // drain, so that the child never blocks
			if first {
				urlc <- lines.Text()
				first = false
			}
		}
		close(urlc)
	}()
	select {
	case url, ok := <-urlc:
		if !ok || !strings.HasPrefix(url, "http://") {
			stop()
			return "", nil, fmt.Errorf("the fake (%s serve) printed no URL", exe)
		}
		return url, stop, nil
	case <-ctx.Done():
		stop()
		return "", nil, ctx.Err()
	}
}
