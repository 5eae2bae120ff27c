package ewstest

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// SeedOptions says what Seed puts in a mailbox. The zero value adds
// nothing.
type SeedOptions struct {
	// Messages is the number of messages to store, spread over the Inbox,
	// Sent Items, Deleted Items, Junk Email and the user folders (the Inbox
	// and a few folders get most, as in a real mailbox).
	Messages int
	// Folders is the number of user folders to create: some under the
	// Inbox, most under the top of the information store, some nested up
	// to three levels.
	Folders int
	// Seed makes the content reproducible: the same options on an empty
	// mailbox give the same folders and messages (ids aside, which are
	// the mailbox's own).
	Seed int64
	// Span is how far back DateTimeReceived goes from End. Default one
	// year.
	Span time.Duration
	// End is the newest DateTimeReceived. Default the server's clock.
	End time.Time
}

// Limits enforced by SeedOptions.Validate.
const (
	MaxSeedMessages = 10_000_000
	MaxSeedFolders  = 100_000
)

// Validate checks the options.
func (o *SeedOptions) Validate() error {
	if o.Messages < 0 || o.Messages > MaxSeedMessages {
		return fmt.Errorf("%w: seed Messages %d outside 0..%d", ErrInvalidArgument, o.Messages, MaxSeedMessages)
	}
	if o.Folders < 0 || o.Folders > MaxSeedFolders {
		return fmt.Errorf("%w: seed Folders %d outside 0..%d", ErrInvalidArgument, o.Folders, MaxSeedFolders)
	}
	if o.Span < 0 {
		return fmt.Errorf("%w: negative seed Span", ErrInvalidArgument)
	}
	return nil
}

// SeedResult reports what Seed created.
type SeedResult struct {
	// Folders holds the ids of the user folders created, in creation
	// order (parents before children).
	Folders []string
	// Counts maps each folder id that received messages to how many.
	Counts map[string]int
	// Messages is the number of messages stored.
	Messages int
}

// seedBatch bounds how many messages are built before they are stored.
const seedBatch = 8192

// Seed fills m with deterministic, realistic content: opts.Folders user
// folders and opts.Messages messages with senders, recipients, subjects in
// threads, bodies, read and flag states, categories and the odd
// attachment. It stores messages with Mailbox.DeliverBatch (one
// ModifiedEvent per folder and batch, no per-item events) and folders with
// Mailbox.CreateFolder, so ICS and the folder properties see them as
// Exchange would. Seeding 100,000 messages takes well under a second of CPU
// (see BenchmarkSeed).
func Seed(m *Mailbox, opts SeedOptions) (SeedResult, error) {
	res := SeedResult{Counts: map[string]int{}}
	if m == nil {
		return res, fmt.Errorf("%w: nil mailbox", ErrInvalidArgument)
	}
	if err := opts.Validate(); err != nil {
		return res, err
	}
	opts.Span = cmp.Or(opts.Span, 365*24*time.Hour)
	if opts.End.IsZero() {
		opts.End = m.now()
	}
	g := newSeedGen(opts.Seed, m.Address())

	folders, err := g.folders(m, opts.Folders)
	if err != nil {
		return res, err
	}
	res.Folders = folders

	plan, err := g.plan(m, folders, opts.Messages)
	if err != nil {
		return res, err
	}
	batch := make([]Message, 0, min(seedBatch, opts.Messages))
	for _, p := range plan {
		sent := p.dist == "sentitems"
		for i := 0; i < p.n; {
			batch = batch[:0]
			for ; i < p.n && len(batch) < seedBatch; i++ {
				// Spread the folder's messages over the span, oldest first,
				// so that arrival order follows DateTimeReceived.
				frac := (float64(i) + g.r.Float64()) / float64(p.n)
				when := opts.End.Add(-time.Duration((1 - frac) * float64(opts.Span)))
				batch = append(batch, g.message(when, opts.End, sent))
			}
			if _, err := m.DeliverBatch(p.id, batch); err != nil {
				return res, err
			}
		}
		res.Counts[p.id] += p.n
		res.Messages += p.n
	}
	return res, nil
}

// seedGen holds the deterministic generator and the vocabulary.
type seedGen struct {
	r      *rand.Rand
	owner  Address
	people []Address
	topics []string
}

var (
	firstNames = []string{"Ann", "Ben", "Carla", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas",
		"Kemal", "Lena", "Marta", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
		"Wei", "Ximena", "Yusuf", "Zoe"}
	lastNames = []string{"Adler", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat",
		"Ito", "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Quint", "Rossi",
		"Schmidt", "Tanaka", "Ueda", "Varga", "Weber", "Yilmaz", "Zhang"}
	domains = []string{"example.com", "example.org", "contoso.example", "fabrikam.example",
		"northwind.example", "tailspin.example"}
	topicWords = []string{"budget", "roadmap", "release", "hiring", "offsite", "invoice", "contract",
		"design review", "migration", "quarterly report", "security audit", "customer visit", "onboarding",
		"backup plan", "server upgrade", "newsletter", "holiday schedule", "expense claims", "training",
		"product launch", "board meeting", "support ticket", "data retention", "travel booking"}
	subjectForms = []string{"%s", "Re: %s", "RE: %s", "Fwd: %s", "%s - update", "Question about the %s",
		"Meeting: %s", "Action needed: %s", "Notes from the %s", "[ext] %s"}
	sentences = []string{
		"Thanks for the quick reply.", "Please find the details below.", "Can we move this to next week?",
		"I have attached the latest version.", "Let me know if anything is missing.",
		"The numbers look good so far.", "We still need sign-off from finance.",
		"I will follow up with the team tomorrow.", "See the notes from our last call.",
		"This is blocking the release, so it is urgent.", "No action needed on your side.",
		"Could you review this before Friday?", "The vendor confirmed the new dates.",
		"Adding Carla for visibility.", "Happy to discuss in person.",
		"Here is a summary of what changed since the last version.",
	}
	folderNames = []string{"Projects", "Clients", "Receipts", "Newsletters", "Travel", "Team", "Family",
		"Finance", "Reports", "Vendors", "Hiring", "Events", "Support", "Legal", "Marketing", "Archive",
		"Ideas", "Reading", "Orders", "Meetings"}
	categoryNames = []string{"Blue category", "Red category", "Green category", "Important", "Follow up"}
)

func newSeedGen(seed int64, owner string) *seedGen {
	g := &seedGen{r: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
	local := owner
	if i := strings.IndexByte(owner, '@'); i >= 0 {
		local = owner[:i]
	}
	g.owner = Address{Name: titleCase(local), Email: owner}
	g.people = make([]Address, 0, 200)
	for i := 0; i < 200; i++ {
		f, l := firstNames[g.r.IntN(len(firstNames))], lastNames[g.r.IntN(len(lastNames))]
		d := domains[g.r.IntN(len(domains))]
		g.people = append(g.people, Address{Name: f + " " + l,
			Email: strings.ToLower(f) + "." + strings.ToLower(l) + strconv.Itoa(i) + "@" + d})
	}
	g.topics = make([]string, 0, 400)
	for i := 0; i < 400; i++ {
		t := topicWords[g.r.IntN(len(topicWords))]
		if g.r.IntN(3) == 0 {
			t += " " + strconv.Itoa(2020+g.r.IntN(7))
		}
		g.topics = append(g.topics, t)
	}
	return g
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// folders creates n user folders and returns their ids.
func (g *seedGen) folders(m *Mailbox, n int) ([]string, error) {
	ids := make([]string, 0, n)
	depth := make([]int, 0, n)
	for i := 0; i < n; i++ {
		parent, d := "msgfolderroot", 1
		switch x := g.r.IntN(8); {
		case x < 2:
			parent = "inbox"
		case x < 4 && len(ids) > 0:
			j := g.r.IntN(len(ids))
			if depth[j] < 3 {
				parent, d = ids[j], depth[j]+1
			}
		}
		base := folderNames[g.r.IntN(len(folderNames))]
		if d > 1 {
			base = strconv.Itoa(2018+g.r.IntN(9)) + " " + base
		}
		name := base
		for k := 2; ; k++ {
			fi, err := m.CreateFolder(parent, name, "IPF.Note")
			if err == nil {
				ids = append(ids, fi.ID)
				depth = append(depth, d)
				break
			}
			if !isFolderExists(err) || k > n+2 {
				return ids, err
			}
			name = base + " " + strconv.Itoa(k)
		}
	}
	return ids, nil
}

func isFolderExists(err error) bool { return ResponseCode(err) == "ErrorFolderExists" }

type seedShare struct {
	id   string
	dist string
	n    int
}

// plan decides how many messages each folder receives.
func (g *seedGen) plan(m *Mailbox, userFolders []string, total int) ([]seedShare, error) {
	type w struct {
		id, dist string
		weight   float64
	}
	var ws []w
	for _, d := range []struct {
		dist   string
		weight float64
	}{{"inbox", 35}, {"sentitems", 10}, {"deleteditems", 3}, {"junkemail", 2}} {
		id, err := m.FolderID(d.dist)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w{id, d.dist, d.weight})
	}
	if len(userFolders) == 0 {
		ws[0].weight += 50
	}
	// User folders share the other half, Zipf-like: a few big ones.
	var sum float64
	for i := range userFolders {
		sum += 1 / math.Pow(float64(i+1), 0.8)
	}
	for i, id := range userFolders {
		ws = append(ws, w{id, "", 50 / sum / math.Pow(float64(i+1), 0.8)})
	}
	out := make([]seedShare, len(ws))
	left := total
	for i, x := range ws {
		n := int(float64(total) * x.weight / 100)
		n = min(n, left)
		out[i] = seedShare{x.id, x.dist, n}
		left -= n
	}
	out[0].n += left // rounding remainder to the Inbox
	return out, nil
}

// message builds one message received at when; sent says it is in Sent
// Items (from the owner).
func (g *seedGen) message(when, end time.Time, sent bool) Message {
	r := g.r
	topic := g.topics[r.IntN(len(g.topics))]
	form := subjectForms[r.IntN(len(subjectForms))]
	other := g.people[r.IntN(len(g.people))]
	msg := Message{
		Subject:          strings.Replace(form, "%s", topic, 1),
		DateTimeReceived: when,
		DateTimeSent:     when.Add(-time.Duration(r.IntN(300)) * time.Second),
	}
	if sent {
		msg.From = g.owner
		msg.To = []Address{other}
		msg.IsRead = true
	} else {
		msg.From = other
		msg.To = []Address{g.owner}
		if r.IntN(4) == 0 {
			msg.Cc = []Address{g.people[r.IntN(len(g.people))]}
		}
		recent := end.Sub(when) < 7*24*time.Hour
		if recent {
			msg.IsRead = r.IntN(10) < 4
		} else {
			msg.IsRead = r.IntN(10) < 9
		}
	}
	switch x := r.IntN(100); {
	case x < 5:
		msg.Importance = "High"
	case x < 7:
		msg.Importance = "Low"
	}
	if r.IntN(100) < 3 {
		msg.FlagStatus = FlagFlagged
	}
	if r.IntN(100) < 5 {
		msg.Categories = []string{categoryNames[r.IntN(len(categoryNames))]}
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteString("Hi ")
	b.WriteString(strings.SplitN(msg.To[0].Name, " ", 2)[0])
	b.WriteString(",\r\n\r\n")
	for n := 2 + r.IntN(5); n > 0; n-- {
		b.WriteString(sentences[r.IntN(len(sentences))])
		b.WriteByte(' ')
	}
	b.WriteString("\r\n\r\n-- \r\n")
	b.WriteString(msg.From.Name)
	b.WriteString("\r\n")
	msg.Body = b.String()
	if r.IntN(100) < 2 {
		name := strings.ReplaceAll(topic, " ", "-") + ".txt"
		msg.Attachments = []Attachment{{Name: name, ContentType: "text/plain",
			Content: []byte("Attachment for " + msg.Subject + "\r\n")}}
	}
	return msg
}
