package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestBench_Quick runs "bench -quick -json" in-process and checks that the
// JSON object has every section with positive figures (a check that the
// command works, not a timed test: no figure is compared with the budget).
func TestBench_Quick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario at tiny sizes (about 10 s)")
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"bench", "-quick", "-json", "-fake-process=false", "-dir", t.TempDir()}, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	var got map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatalf("more than one JSON value:\n%s", stdout.String())
	}
	got = map[string]map[string]any{}
	for _, k := range []string{"initialMirror", "floors", "live", "recovery", "query", "idle", "machine"} {
		var m map[string]any
		if err := json.Unmarshal(raw[k], &m); err != nil || m == nil {
			t.Fatalf("section %q missing or not an object (%v):\n%s", k, err, stdout.String())
		}
		got[k] = m
	}
	positive := map[string][]string{
		"initialMirror": {"messages", "folders", "seconds", "messagesPerSecond", "mbPerSecond", "wireMB", "peakRssMB", "requests", "ewsRequests"},
		"floors":        {"items", "folders", "concurrency", "xmlItemsPerSecond", "storeItemsPerSecond", "serialItemsPerSecond", "mirrorOfXml", "mirrorOfStore"},
		"live":          {"rate", "seconds", "changes", "events", "batches", "p50Ms", "p95Ms", "p99Ms", "maxMs", "firstEventP50Ms", "firstEventP99Ms"},
		"recovery":      {"folders", "messages", "events", "touched", "requestRatio", "bytesRatio", "timeRatio"},
		"query":         {"items", "reads", "newest50Us", "newest50P99Us"},
		"idle":          {"mailboxes", "groupSize", "streamClients", "streams", "subscriptions", "startSeconds", "startRequests", "windowSeconds", "memoryMB", "heapMB", "connectionLimit"},
		"machine":       {"cpus"},
	}
	for section, fields := range positive {
		for _, f := range fields {
			v, ok := got[section][f].(float64)
			if !ok || !(v > 0) {
				t.Errorf("%s.%s = %v, want a positive number", section, f, got[section][f])
			}
		}
	}
	// Figures that may be zero at these sizes but never negative.
	for _, f := range []string{"cpuPercent", "windowRequests", "errors", "stopSeconds"} {
		if v, ok := got["idle"][f].(float64); !ok || v < 0 {
			t.Errorf("idle.%s = %v, want a number ≥ 0", f, got["idle"][f])
		}
	}
	if got["recovery"]["sameMirror"] != true {
		t.Errorf("recovery.sameMirror = %v", got["recovery"]["sameMirror"])
	}
	for _, path := range []string{"a", "b"} {
		p, _ := got["recovery"][path].(map[string]any)
		for _, f := range []string{"requests", "bytes", "ms"} {
			if v, ok := p[f].(float64); !ok || !(v > 0) {
				t.Errorf("recovery.%s.%s = %v, want a positive number", path, f, p[f])
			}
		}
	}
	if p, _ := got["recovery"]["a"].(map[string]any); !(p["resynced"].(float64) > 0) {
		t.Errorf("recovery.a.resynced = %v: the outage changed folders", p["resynced"])
	}
	if p, _ := got["recovery"]["b"].(map[string]any); !(p["itemsFetched"].(float64) > 0) {
		t.Errorf("recovery.b.itemsFetched = %v: the outage changed items", p["itemsFetched"])
	}
	var budget []budgetLine
	if err := json.Unmarshal(raw["budget"], &budget); err != nil {
		t.Fatal(err)
	}
	if len(budget) != 8 {
		t.Errorf("%d budget lines, want 8: %+v", len(budget), budget)
	}
	for _, l := range budget {
		if l.Name == "" || l.Limit <= 0 || l.Unit == "" {
			t.Errorf("budget line %+v", l)
		}
	}
}

// TestBench_Table checks the table's sections and budget verdicts for one
// scenario (the query, the quickest).
func TestBench_Table(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "-scenarios", "query", "-query-items", "500", "-query-reads", "20", "-dir", t.TempDir()}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"query  newest 50  of 500 items: median", "budget (DESIGN.md):", "newest 50 of a folder (median)", "at 500 items; the budget's size is 100,000"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, " OK, ") && !strings.Contains(out, " MISS by ") {
		t.Errorf("no verdict:\n%s", out)
	}
	if strings.Contains(out, "initial mirror") || strings.Contains(out, "idle") {
		t.Errorf("scenarios not selected appear:\n%s", out)
	}
}

// TestBench_Usage checks that bad flags are usage errors.
func TestBench_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-scenarios", "nope"},
		{"bench", "-messages", "0"},
		{"bench", "-max-delay", "1ms", "-quiet", "1s"},
		{"bench", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if !errors.Is(err, errUsage) || exitStatus(err) != exitUsage {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
}

// TestBudgetLine checks the verdicts and margins.
func TestBudgetLine(t *testing.T) {
	for _, tc := range []struct {
		l      budgetLine
		ok     bool
		margin float64
		text   string
	}{
		{newBudgetLine("rate", 24_000, 32_000, "msgs/s", true, ""), false, -0.25, "24,000 msgs/s (≥ 32,000 msgs/s) MISS by 25 %"},
		{newBudgetLine("rss", 150, 200, "MB", false, ""), true, 0.25, "150 MB (≤ 200 MB) OK, 25 % to spare"},
		{newBudgetLine("ratio", 40, 20, "×", true, ""), true, 1, "40.0× (≥ 20.0×) OK, 100 % to spare"},
		{newBudgetLine("p99", 150, 100, "ms", false, ""), false, -0.5, "150 ms (≤ 100 ms) MISS by 50 %"},
	} {
		if tc.l.OK != tc.ok || tc.l.Margin != tc.margin || tc.l.verdict() != tc.text {
			t.Errorf("%s: ok %v margin %v %q, want %v %v %q", tc.l.Name, tc.l.OK, tc.l.Margin, tc.l.verdict(), tc.ok, tc.margin, tc.text)
		}
	}
}

// TestBench_FakeProcess runs the built binary's initial mirror with the fake
// as a child "syncdemo serve" (which needs the real binary, not the test
// binary) and checks the figures.
func TestBench_FakeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, code := runBinary(t, ctx, nil, "bench", "-quick", "-json", "-scenarios", "mirror", "-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	var res benchResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	m := res.InitialMirror
	if m == nil || res.Floors == nil || m.FakeInProcess || m.Messages != 2000 || !(m.PeakRSSMB > 0) || !(res.Floors.XMLItemsPerSecond > 0) {
		t.Fatalf("initial mirror %+v, floors %+v", m, res.Floors)
	}
	if res.Live != nil || res.Idle != nil || len(res.Budget) != 2 {
		t.Fatalf("scenarios not selected ran: %s", stdout)
	}
}
