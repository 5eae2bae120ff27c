package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// budgetLine compares one figure with DESIGN.md's budget.
type budgetLine struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"`
	// AtLeast is true when the value must be at least Limit, false when
	// at most.
	AtLeast bool `json:"atLeast"`
	OK      bool `json:"ok"`
	// Margin is how far the value is from the limit, as a fraction of the
	// limit: positive inside the budget, negative outside.
	Margin float64 `json:"margin"`
	// Note says where the run's sizes differ from the budget's.
	Note string `json:"note,omitempty"`
}

func newBudgetLine(name string, value, limit float64, unit string, atLeast bool, note string) budgetLine {
	l := budgetLine{Name: name, Value: value, Limit: limit, Unit: unit, AtLeast: atLeast, Note: note}
	if atLeast {
		l.OK, l.Margin = value >= limit, (value-limit)/limit
	} else {
		l.OK, l.Margin = value <= limit, (limit-value)/limit
	}
	return l
}

// budgetOf lists the budget lines of the scenarios that ran.
func budgetOf(c benchConfig, res *benchResult) []budgetLine {
	var ls []budgetLine
	if m := res.InitialMirror; m != nil {
		note := ""
		if c.messages != 100_000 || c.folders != 50 {
			note = fmt.Sprintf("at %d messages in %d folders; the budget's size is 100,000 in 50", c.messages, c.folders)
		}
		ls = append(ls,
			newBudgetLine("initial mirror", m.MessagesPerSecond, 32_000, "msgs/s", true, note),
			newBudgetLine("initial mirror peak RSS", m.PeakRSSMB, 200, "MB", false, strings.TrimPrefix(note+map[bool]string{true: "; includes the in-process fake (-fake-process=false)", false: ""}[m.FakeInProcess], "; ")))
	}
	if l := res.Live; l != nil {
		ls = append(ls, newBudgetLine("live p99 after the debounce window", l.P99Ms, 100, "ms", false, ""))
	}
	if r := res.Recovery; r != nil {
		note := ""
		if c.recoveryFolders != 1000 {
			note = fmt.Sprintf("at %d folders; the budget's size is 1,000", c.recoveryFolders)
		}
		ls = append(ls,
			newBudgetLine("recovery: fewer requests than replay", r.RequestRatio, 20, "×", true, note),
			newBudgetLine("recovery: less time than replay", r.TimeRatio, 10, "×", true, note))
	}
	if q := res.Query; q != nil {
		note := ""
		if c.queryItems != 100_000 {
			note = fmt.Sprintf("at %d items; the budget's size is 100,000", c.queryItems)
		}
		ls = append(ls, newBudgetLine("newest 50 of a folder (median)", q.Newest50Us/1000, 1, "ms", false, note))
	}
	if id := res.Idle; id != nil {
		note := "includes the in-process fake"
		if id.Mailboxes != 10_000 {
			note = fmt.Sprintf("at %d mailboxes; the budget's size is 10,000 (-idle-mailboxes 10000); %s", id.Mailboxes, note)
		}
		ls = append(ls,
			newBudgetLine("idle streaming mailboxes: CPU", id.CPUPercent, 5, "% of a core", false, note),
			newBudgetLine("idle streaming mailboxes: memory", id.MemoryMB, 1000, "MB", false, note))
	}
	return ls
}

// print writes the table and the budget lines.
func (res *benchResult) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(section, name, value string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", section, name, value) }
	if m := res.InitialMirror; m != nil {
		s := "initial mirror"
		row(s, "messages, folders", fmt.Sprintf("%s in %d folders", count(float64(m.Messages)), m.Folders))
		row("", "time", fmt.Sprintf("%.2f s", m.Seconds))
		row("", "messages/s", count(m.MessagesPerSecond))
		row("", "received", fmt.Sprintf("%.1f MB/s (%.0f MB both ways)", m.MBPerSecond, m.WireMB))
		peak := "peak RSS during the mirror"
		if !m.PeakRSSIsReset {
			peak = "peak RSS since the start"
		}
		fake := "the fake included"
		if !m.FakeInProcess {
			fake = "the engine alone: the fake ran in a child process"
		}
		row("", peak, fmt.Sprintf("%.0f MB (%.0f MB before it; %s)", m.PeakRSSMB, m.BaseRSSMB, fake))
		row("", "requests", fmt.Sprintf("%d HTTP, %d EWS", m.Requests, m.EWSRequests))
	}
	if f := res.Floors; f != nil {
		s := "floors"
		row(s, "items, folders", fmt.Sprintf("%s in %d folders, %d at once", count(float64(f.Items)), f.Folders, f.Concurrency))
		row("", "XML: decoded, not stored", fmt.Sprintf("%s items/s (%.2f s); the mirror reached %.0f %%", count(f.XMLItemsPerSecond), f.XMLSeconds, 100*f.MirrorOfXML))
		row("", "bbolt: stored, not decoded", fmt.Sprintf("%s items/s (%.2f s); the mirror reached %.0f %%", count(f.StoreItemsPerSecond), f.StoreSeconds, 100*f.MirrorOfStore))
		row("", "both, one after the other", count(f.SerialItemsPerSecond)+" items/s")
	}
	if l := res.Live; l != nil {
		s := "live"
		row(s, "activity", fmt.Sprintf("%g changes/s for %.1f s: %d changes, %d events, %d batches", l.Rate, l.Seconds, l.Changes, l.Events, l.Batches))
		row("", "debounce", fmt.Sprintf("%g ms quiet, %g ms at most", l.QuietMs, l.MaxDelayMs))
		row("", "cut to commit", fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms", l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs))
		row("", "first event to commit", fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, p99 %.1f ms", l.FirstEventP50Ms, l.FirstEventP95Ms, l.FirstEventP99Ms))
	}
	if r := res.Recovery; r != nil {
		s := "recovery"
		row(s, "mailbox, outage", fmt.Sprintf("%d folders, %s messages; %s events in %d folders", r.Folders, count(float64(r.Messages)), count(float64(r.Events)), r.Touched))
		row("", "A: engine's recovery", fmt.Sprintf("%d requests, %.2f MB, %.0f ms, %d folders resynced", r.A.Requests, mb(r.A.Bytes), r.A.Ms, r.A.Resynced))
		if rc := r.A.Recheck; rc != nil {
			row("", "A: then its recheck", fmt.Sprintf("%d requests, %.2f MB, %.0f ms (paced), %d folders", rc.Requests, mb(rc.Bytes), rc.Ms, rc.Folders))
		}
		row("", "B: watermark replay", fmt.Sprintf("%d requests, %.2f MB, %.0f ms, %d items fetched", r.B.Requests, mb(r.B.Bytes), r.B.Ms, r.B.ItemsFetched))
		row("", "B / A", fmt.Sprintf("%.1f× requests, %.1f× bytes, %.1f× time; same mirror: %v", r.RequestRatio, r.BytesRatio, r.TimeRatio, r.SameMirror))
	}
	if q := res.Query; q != nil {
		row("query", "newest 50", fmt.Sprintf("of %s items: median %.0f µs, p99 %.0f µs (%d reads)", count(float64(q.Items)), q.Newest50Us, q.Newest50P99Us, q.Reads))
	}
	if id := res.Idle; id != nil {
		s := "idle"
		row(s, "mailboxes", fmt.Sprintf("%s on %d streams (%d subscriptions), %d per stream client", count(float64(id.Mailboxes)), id.Streams, id.Subscriptions, id.GroupSize))
		row("", "start", fmt.Sprintf("%.1f s, %s requests, %d back-offs", id.StartSeconds, count(float64(id.StartRequests)), id.Errors))
		limit := fmt.Sprintf("%d streaming connections per account", id.ConnectionLimit)
		if id.ConnectionLimitRaised {
			limit += " (raised: the default blocked the start)"
		}
		row("", "fake's limit", limit)
		row("", "CPU", fmt.Sprintf("%.2f %% of a core over %.1f s (%d requests)", id.CPUPercent, id.WindowSeconds, id.WindowRequests))
		row("", "memory", fmt.Sprintf("%.0f MB RSS, %.0f MB Go heap, %.0f MB of it grown with the engine", id.MemoryMB, id.HeapMB, id.EngineHeapMB))
		row("", "stop", fmt.Sprintf("%.1f s", id.StopSeconds))
	}
	tw.Flush()
	if len(res.Budget) > 0 {
		fmt.Fprintln(w, "budget (DESIGN.md):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, l := range res.Budget {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", l.Name, l.verdict(), l.Note)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%d CPUs, %s %s/%s, %.0f s\n", res.Machine.CPUs, res.Machine.GoVersion, res.Machine.OS, res.Machine.Arch, res.Seconds)
}

// verdict formats the line as "VALUE (≥ LIMIT) OK, 12 % to spare" or
// "... MISS by 12 %".
func (l budgetLine) verdict() string {
	op := "≤"
	if l.AtLeast {
		op = "≥"
	}
	unit := " " + l.Unit
	if l.Unit == "×" {
		unit = l.Unit
	}
	v := fmt.Sprintf("%s%s (%s %s%s)", figure(l.Value), unit, op, figure(l.Limit), unit)
	if l.OK {
		return fmt.Sprintf("%s OK, %.0f %% to spare", v, 100*l.Margin)
	}
	return fmt.Sprintf("%s MISS by %.0f %%", v, -100*l.Margin)
}

// figure formats a value with about three significant digits.
func figure(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return count(v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// count formats a number rounded to an integer with thousands separators.
func count(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
