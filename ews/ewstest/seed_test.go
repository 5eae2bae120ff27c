package ewstest

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

var seedEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSeedServer(t testing.TB) (*Server, *Mailbox) {
	t.Helper()
	s := NewUnstartedServer(Options{Clock: debouncetest.NewClock(seedEpoch),
		Users: []User{{Name: "alice", Password: "secret", Address: "alice@example.com"}}})
	return s, s.Mailbox("alice@example.com")
}

// fingerprint summarises a mailbox's content without its ids.
func fingerprint(t *testing.T, m *Mailbox) []string {
	t.Helper()
	var out []string
	names := map[string]string{}
	for _, f := range m.Folders() {
		names[f.ID] = f.DisplayName
		items, err := m.Items(f.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, names[f.ParentID]+"/"+f.DisplayName)
		for _, it := range items {
			msg := it.Message
			out = append(out, f.DisplayName+"|"+msg.Subject+"|"+msg.From.Email+"|"+msg.DateTimeReceived.String()+
				"|"+msg.FlagStatus+"|"+strings.Join(msg.Categories, ",")+"|"+msg.Body)
		}
	}
	return out
}

func TestSeed_Deterministic(t *testing.T) {
	_, a := newSeedServer(t)
	_, b := newSeedServer(t)
	_, c := newSeedServer(t)
	opts := SeedOptions{Messages: 2000, Folders: 15, Seed: 7}
	ra, err := Seed(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seed(b, opts); err != nil {
		t.Fatal(err)
	}
	opts.Seed = 8
	if _, err := Seed(c, opts); err != nil {
		t.Fatal(err)
	}
	fa, fb, fc := fingerprint(t, a), fingerprint(t, b), fingerprint(t, c)
	if strings.Join(fa, "\n") != strings.Join(fb, "\n") {
		t.Fatal("same seed gave different mailboxes")
	}
	if strings.Join(fa, "\n") == strings.Join(fc, "\n") {
		t.Fatal("different seeds gave the same mailbox")
	}
	if ra.Messages != 2000 || len(ra.Folders) != 15 {
		t.Fatalf("result %d messages, %d folders", ra.Messages, len(ra.Folders))
	}
}

func TestSeed_Shape(t *testing.T) {
	_, m := newSeedServer(t)
	before := len(m.Folders())
	res, err := Seed(m, SeedOptions{Messages: 5000, Folders: 30, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	fs := m.Folders()
	if len(fs) != before+30 {
		t.Fatalf("%d folders, want %d", len(fs), before+30)
	}
	total, sum := 0, 0
	byID := map[string]FolderInfo{}
	for _, f := range fs {
		byID[f.ID] = f
		total += f.TotalCount
	}
	for id, n := range res.Counts {
		sum += n
		if byID[id].TotalCount != n {
			t.Errorf("folder %s holds %d, result says %d", byID[id].DisplayName, byID[id].TotalCount, n)
		}
	}
	if total != 5000 || sum != 5000 || res.Messages != 5000 {
		t.Fatalf("total %d, counted %d, result %d", total, sum, res.Messages)
	}
	inbox, _ := m.Folder("inbox")
	if inbox.TotalCount < 1000 || inbox.UnreadCount == 0 || inbox.UnreadCount == inbox.TotalCount {
		t.Fatalf("inbox %d items, %d unread", inbox.TotalCount, inbox.UnreadCount)
	}
	// Nesting: some user folder has a user folder as parent.
	nested := false
	for _, id := range res.Folders {
		if p := byID[byID[id].ParentID]; p.DistinguishedID == "" {
			nested = true
		}
	}
	if !nested {
		t.Error("no nested user folders")
	}
	// Newest arrival first, and arrival order follows DateTimeReceived.
	items, _ := m.Items(inbox.ID)
	for i := 1; i < len(items); i++ {
		if items[i].Message.DateTimeReceived.After(items[i-1].Message.DateTimeReceived) {
			t.Fatalf("inbox item %d received after item %d", i, i-1)
		}
	}
	if newest := items[0].Message.DateTimeReceived; newest.After(seedEpoch) || seedEpoch.Sub(newest) > 24*time.Hour {
		t.Fatalf("newest message received %v", newest)
	}
	if oldest := items[len(items)-1].Message.DateTimeReceived; seedEpoch.Sub(oldest) < 300*24*time.Hour {
		t.Fatalf("oldest message received %v", oldest)
	}
	// Messages render as RFC 5322 and come from varied senders.
	senders := map[string]bool{}
	for _, it := range items[:200] {
		raw := it.Message.renderMIME()
		pm, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("MIME does not parse: %v", err)
		}
		if pm.Header.Get("Subject") == "" || it.Message.To[0].Email != "alice@example.com" {
			t.Fatalf("bad message %+v", it.Message)
		}
		senders[it.Message.From.Email] = true
	}
	if len(senders) < 50 {
		t.Fatalf("only %d senders in 200 messages", len(senders))
	}
	sent, _ := m.Folder("sentitems")
	sitems, _ := m.Items(sent.ID)
	if len(sitems) == 0 || sitems[0].Message.From.Email != "alice@example.com" {
		t.Fatal("sent items not from the owner")
	}
}

func TestSeed_Invalid(t *testing.T) {
	_, m := newSeedServer(t)
	for _, o := range []SeedOptions{{Messages: -1}, {Folders: -1}, {Messages: MaxSeedMessages + 1}, {Span: -time.Second}} {
		if _, err := Seed(m, o); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Seed(%+v) = %v", o, err)
		}
	}
	if _, err := Seed(nil, SeedOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Seed(nil) = %v", err)
	}
	if res, err := Seed(m, SeedOptions{}); err != nil || res.Messages != 0 {
		t.Errorf("empty seed: %+v %v", res, err)
	}
}

// BenchmarkSeed measures seeding 100,000 messages in 50 folders.
func BenchmarkSeed(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		_, m := newSeedServer(b)
		b.StartTimer()
		if _, err := Seed(m, SeedOptions{Messages: 100_000, Folders: 50, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
