package ewstest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// davmailJar is where Debian's davmail package installs the gateway.
const davmailJar = "/usr/share/davmail/davmail.jar"

// TestInterop_DavMail points DavMail, a real IMAP-to-EWS gateway nobody
// here wrote, at the fake and drives it over IMAP: LOGIN, LIST against
// the fake's folder tree, SELECT counts, FETCH envelopes, flags and
// bodies against the fake's MIME, STORE \Seen, APPEND, COPY, MOVE,
// \Deleted with EXPUNGE, and a delivery in the fake seen through NOOP.
// Every step is checked on the fake's side too, under Basic and NTLM.
func TestInterop_DavMail(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test skipped in -short mode")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		skipOrFailDavMail(t, "java is not on PATH")
	}
	jar := davmailJar
	if p := os.Getenv("MAILSYNC_DAVMAIL_JAR"); p != "" {
		jar = p
	}
	if _, err := os.Stat(jar); err != nil {
		skipOrFailDavMail(t, jar+" is missing")
	}
	for _, auth := range []string{AuthBasic, AuthNTLM} {
		t.Run("auth="+auth, func(t *testing.T) { runDavMail(t, java, jar, auth) })
	}
}

// runDavMail runs one DavMail against a fresh fake using the given
// authentication scheme.
func runDavMail(t *testing.T, java, jar, auth string) {
	srv := NewServer(Options{
		Users: []User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
		Auth:  AuthOptions{Mode: auth},
	})
	defer srv.Close()
	m := srv.Mailbox("alice@example.com")
	base := time.Now().UTC().Add(-48 * time.Hour)
	const seeded = 6
	for i := range seeded {
		msg := testMessage(fmt.Sprintf("davmail message %02d", i))
		msg.DateTimeReceived = base.Add(time.Duration(i) * time.Hour)
		msg.InternetMessageID = fmt.Sprintf("<davmail-%02d@example.org>", i)
		msg.IsRead = i%2 == 0
		mustDeliver(t, m, "inbox", msg)
	}
	archive, err := m.CreateFolder("msgfolderroot", "Archive 2025", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateFolder(archive.ID, "Q1", ""); err != nil {
		t.Fatal(err)
	}

	port := dmFreePort(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "davmail.log")
	props := filepath.Join(dir, "davmail.properties")
	writeDavMailProperties(t, props, srv.URL, port, logFile)
	cmd := exec.Command(java, "-Djava.awt.headless=true", "-jar", jar, props)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting DavMail: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			logTail, _ := os.ReadFile(logFile)
			t.Logf("DavMail output:\n%s\nDavMail log (tail):\n%s", out.String(), dmTail(logTail, 12000))
		}
	}()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := dialWhenListening(t, addr, exited, 30*time.Second)
	defer c.close()

	// LOGIN: DavMail authenticates against the fake with Basic and
	// resolves the address through ConvertId.
	c.ok(t, "LOGIN alice secret")

	// LIST: the mail folders under msgfolderroot, with DavMail's names
	// for the special ones.
	if listed, want := c.list(t), davmailFolderNames(t, m); !slices.Equal(listed, want) {
		t.Errorf("LIST = %q\nwant %q (the fake's mail folders)", listed, want)
	}

	// SELECT: EXISTS is the fake's count.
	inbox, err := m.Folder("inbox")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.exists(t, c.ok(t, "SELECT INBOX")); n != inbox.TotalCount || n != seeded {
		t.Fatalf("SELECT INBOX: EXISTS %d, the fake has %d (seeded %d)", n, inbox.TotalCount, seeded)
	}

	// FETCH: envelope subjects, message ids and \Seen match the fake, and
	// BODY[] is the fake's MIME byte for byte.
	byMsgID := map[string]ItemInfo{}
	items, err := m.Items("inbox")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		byMsgID[it.Message.InternetMessageID] = it
	}
	seqOf := map[string]int{} // subject -> sequence number
	for _, l := range c.ok(t, "FETCH 1:* (UID FLAGS ENVELOPE)") {
		seq, msgID, subject, seen, ok := dmParseEnvelope(l)
		if !ok {
			continue
		}
		it, found := byMsgID[msgID]
		if !found {
			t.Errorf("FETCH %d: message id %q is not in the fake's inbox", seq, msgID)
			continue
		}
		if subject != it.Message.Subject || seen != it.Message.IsRead {
			t.Errorf("FETCH %d: subject %q seen %v, the fake has %q read %v", seq, subject, seen, it.Message.Subject, it.Message.IsRead)
		}
		seqOf[subject] = seq
	}
	if len(seqOf) != seeded {
		t.Fatalf("FETCH 1:* ENVELOPE listed %d messages, want %d: %v", len(seqOf), seeded, seqOf)
	}
	for _, i := range []int{0, 3, 5} {
		subject := fmt.Sprintf("davmail message %02d", i)
		it := byMsgID[fmt.Sprintf("<davmail-%02d@example.org>", i)]
		body := c.fetchLiteral(t, seqOf[subject], "BODY.PEEK[]")
		if want := it.Message.renderMIME(); !bytes.Equal(body, want) {
			t.Errorf("BODY[] of %q differs from the fake's MIME:\n got %q\nwant %q", subject, body, want)
		}
	}

	// STORE \Seen: the fake's IsRead turns true.
	unread := byMsgID["<davmail-01@example.org>"]
	c.ok(t, fmt.Sprintf(`STORE %d +FLAGS (\Seen)`, seqOf[unread.Message.Subject]))
	if it, err := m.Item(unread.ID); err != nil || !it.Message.IsRead {
		t.Errorf("after STORE +FLAGS \\Seen the fake's item is read=%v (err %v)", it.Message.IsRead, err)
	}

	// STORE \Flagged \Answered: the fake's FlagStatus (PR_FLAG_STATUS)
	// turns Flagged, and the flags read back after a fresh SELECT.
	flagged := byMsgID["<davmail-03@example.org>"]
	c.ok(t, fmt.Sprintf(`STORE %d +FLAGS (\Flagged \Answered $label1)`, seqOf[flagged.Message.Subject]))
	if it, err := m.Item(flagged.ID); err != nil || it.Message.FlagStatus != FlagFlagged {
		t.Errorf("after STORE +FLAGS \\Flagged the fake's FlagStatus is %q (err %v)", it.Message.FlagStatus, err)
	} else if !slices.Contains(it.Message.Categories, "Important") {
		// DavMail writes IMAP keywords to PS_PUBLIC_STRINGS Keywords, the
		// Categories ($label1 is its "Important").
		t.Errorf("after STORE +FLAGS $label1 the fake's Categories are %q", it.Message.Categories)
	}
	c.ok(t, "SELECT INBOX")
	flags := strings.Join(c.ok(t, fmt.Sprintf("FETCH %d (FLAGS)", seqOf[flagged.Message.Subject])), "\n")
	if !strings.Contains(flags, `\Flagged`) || !strings.Contains(flags, `\Answered`) || !strings.Contains(flags, "$label1") {
		t.Errorf("after re-SELECT: %s, want \\Flagged, \\Answered and $label1", flags)
	}

	// SEARCH UNSEEN (a FindItem restriction on IsRead) matches the fake.
	var unseen []int
	for _, l := range c.ok(t, "SEARCH UNSEEN") {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.Atoi(f)
				unseen = append(unseen, n)
			}
		}
	}
	var wantUnseen []int
	for _, it := range dmItems(t, m, "inbox") {
		if !it.Message.IsRead {
			wantUnseen = append(wantUnseen, seqOf[it.Message.Subject])
		}
	}
	slices.Sort(unseen)
	slices.Sort(wantUnseen)
	if !slices.Equal(unseen, wantUnseen) || len(unseen) == 0 {
		t.Errorf("SEARCH UNSEEN = %v, the fake's unread messages are %v", unseen, wantUnseen)
	}

	// APPEND: the message appears in the fake's Inbox.
	appended := "From: Bob <bob@example.org>\r\nTo: Alice <alice@example.com>\r\nSubject: appended through DavMail\r\n" +
		"Message-ID: <davmail-append@example.org>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nappended body\r\n"
	c.appendMessage(t, "INBOX", `(\Seen)`, appended)
	if it, ok := dmFindBySubject(t, m, "inbox", "appended through DavMail"); !ok {
		t.Errorf("APPEND: the fake's inbox lacks the message")
	} else {
		if !strings.Contains(string(it.Message.renderMIME()), "appended body") {
			t.Errorf("APPEND: the fake stored %q", it.Message.renderMIME())
		}
		// DavMail sets PR_MESSAGE_FLAGS on CreateItem: a received, read
		// message, not a draft.
		if it.Message.IsDraft || !it.Message.IsRead {
			t.Errorf("APPEND (\\Seen): the fake's item has draft=%v read=%v", it.Message.IsDraft, it.Message.IsRead)
		}
	}

	// COPY and MOVE into a user folder.
	copied := byMsgID["<davmail-02@example.org>"].Message.Subject
	moved := byMsgID["<davmail-04@example.org>"].Message.Subject
	c.ok(t, fmt.Sprintf(`COPY %d "Archive 2025"`, seqOf[copied]))
	c.ok(t, fmt.Sprintf(`MOVE %d "Archive 2025"`, seqOf[moved]))
	if _, ok := dmFindBySubject(t, m, archive.ID, copied); !ok {
		t.Errorf("COPY: %q is not in the fake's Archive 2025", copied)
	}
	if _, ok := dmFindBySubject(t, m, "inbox", copied); !ok {
		t.Errorf("COPY: %q left the fake's inbox", copied)
	}
	if _, ok := dmFindBySubject(t, m, archive.ID, moved); !ok {
		t.Errorf("MOVE: %q is not in the fake's Archive 2025", moved)
	}
	if _, ok := dmFindBySubject(t, m, "inbox", moved); ok {
		t.Errorf("MOVE: %q is still in the fake's inbox", moved)
	}

	// \Deleted + EXPUNGE: the message leaves the fake. Sequence numbers
	// shifted with the MOVE, so address it by UID.
	gone := byMsgID["<davmail-05@example.org>"].Message.Subject
	uid := c.uidOf(t, gone)
	c.ok(t, fmt.Sprintf(`UID STORE %d +FLAGS (\Deleted)`, uid))
	// DavMail keeps \Deleted in a named MAPI property on the item; a fresh
	// SELECT reads it back from the fake.
	c.ok(t, "SELECT INBOX")
	flags = strings.Join(c.ok(t, fmt.Sprintf("UID FETCH %d (FLAGS)", uid)), "\n")
	if !strings.Contains(flags, `\Deleted`) {
		t.Errorf("after re-SELECT the \\Deleted flag is gone: %s", flags)
	}
	c.ok(t, "EXPUNGE")
	if _, ok := dmFindBySubject(t, m, "inbox", gone); ok {
		t.Errorf("EXPUNGE: %q is still in the fake's inbox", gone)
	}

	// A message delivered in the fake meanwhile shows up through NOOP
	// (DavMail polls EWS); bounded by a deadline, as DavMail is external.
	c.ok(t, "SELECT INBOX")
	want := len(dmItems(t, m, "inbox")) + 1
	late := testMessage("delivered while DavMail watched")
	mustDeliver(t, m, "inbox", late)
	deadline := time.Now().Add(15 * time.Second)
	for n := 0; n != want; {
		if time.Now().After(deadline) {
			t.Fatalf("NOOP never showed the delivered message: EXISTS %d, want %d", n, want)
		}
		n = max(n, c.exists(t, c.ok(t, "NOOP")))
		if n != want {
			time.Sleep(100 * time.Millisecond) // polling an external process
		}
	}
	if _, ok := c.uidOfOK(t, late.Subject); !ok {
		t.Errorf("the delivered message is not listed after NOOP")
	}
	// CREATE, RENAME and DELETE of folders change the fake's tree.
	c.ok(t, `CREATE "Archive 2025/Projects"`)
	c.ok(t, `RENAME "Archive 2025/Projects" "Archive 2025/Done"`)
	c.ok(t, `CREATE "Scratch"`)
	c.ok(t, `DELETE "Scratch"`)
	if got, want := davmailFolderNames(t, m), "Archive 2025/Done"; !slices.Contains(got, want) || slices.Contains(got, "Archive 2025/Projects") || slices.Contains(got, "Scratch") {
		t.Errorf("after CREATE, RENAME and DELETE the fake's folders are %q", got)
	}
	if listed, want := c.list(t), davmailFolderNames(t, m); !slices.Equal(listed, want) {
		t.Errorf("LIST after folder changes = %q\nwant %q", listed, want)
	}
	c.ok(t, "LOGOUT")
}

func skipOrFailDavMail(t *testing.T, why string) {
	t.Helper()
	if requireInterop() {
		t.Fatalf("interop test required (MAILSYNC_REQUIRE_INTEROP=1) but %s; install it with .ci/install-interop-davmail", why)
	}
	t.Skipf("skipping DavMail interop: %s (apt-get install -y --no-install-recommends davmail; set MAILSYNC_REQUIRE_INTEROP=1 to make this a failure)", why)
}

// writeDavMailProperties fills testdata/interop/davmail's template.
func writeDavMailProperties(t *testing.T, path, url string, port int, logFile string) {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "interop", "davmail", "davmail.properties.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{"URL": url, "IMAPPort": port, "LogFile": logFile}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dmFreePort returns a port nothing listens on at the moment.
func dmFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// davmailFolderNames is the IMAP folder list DavMail should derive from
// the fake's tree: every mail folder below msgfolderroot by path, with
// the special folders under DavMail's IMAP names.
func davmailFolderNames(t *testing.T, m *Mailbox) []string {
	t.Helper()
	special := map[string]string{"inbox": "INBOX", "sentitems": "Sent", "deleteditems": "Trash",
		"junkemail": "Junk", "outbox": "Unsent Messages", "drafts": "Drafts"}
	root, err := m.FolderID("msgfolderroot")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]FolderInfo{}
	for _, f := range m.Folders() {
		byID[f.ID] = f
	}
	var names []string
	for _, f := range m.Folders() {
		if f.FolderClass != "IPF.Note" && !strings.HasPrefix(f.FolderClass, "IPF.Note.") {
			continue
		}
		var path []string
		p := f
		for p.ID != root {
			name := p.DisplayName
			if s, ok := special[p.DistinguishedID]; ok {
				name = s
			}
			path = append([]string{name}, path...)
			var ok bool
			if p, ok = byID[p.ParentID]; !ok {
				path = nil // outside msgfolderroot
				break
			}
		}
		if len(path) > 0 {
			names = append(names, strings.Join(path, "/"))
		}
	}
	slices.Sort(names)
	return names
}

func dmItems(t *testing.T, m *Mailbox, folder string) []ItemInfo {
	t.Helper()
	items, err := m.Items(folder)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func dmFindBySubject(t *testing.T, m *Mailbox, folder, subject string) (ItemInfo, bool) {
	t.Helper()
	for _, it := range dmItems(t, m, folder) {
		if it.Message.Subject == subject {
			return it, true
		}
	}
	return ItemInfo{}, false
}

var dmEnvelopeRE = regexp.MustCompile(`^\* (\d+) FETCH \(.*FLAGS \(([^)]*)\).*ENVELOPE \("[^"]*" "((?:[^"\\]|\\.)*)" .* "(<[^"]*>)"\)`)

// dmParseEnvelope reads sequence number, Message-ID, subject and \Seen
// from a FETCH (UID FLAGS ENVELOPE) response line.
func dmParseEnvelope(l string) (seq int, msgID, subject string, seen, ok bool) {
	m := dmEnvelopeRE.FindStringSubmatch(l)
	if m == nil {
		return 0, "", "", false, false
	}
	seq, _ = strconv.Atoi(m[1])
	return seq, m[4], m[3], slices.Contains(strings.Fields(m[2]), `\Seen`), true
}

func dmTail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// imapConn is a minimal IMAP4rev1 client: tagged commands, untagged lines,
// and literals ({n}) folded into the line they belong to.
type imapConn struct {
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

// dialWhenListening connects once DavMail's IMAP port accepts and the
// greeting arrives, failing early if DavMail exits.
func dialWhenListening(t *testing.T, addr string, exited <-chan error, wait time.Duration) *imapConn {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		select {
		case err := <-exited:
			t.Fatalf("DavMail exited before listening: %v", err)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c := &imapConn{conn: conn, r: bufio.NewReader(conn)}
			_ = conn.SetDeadline(time.Now().Add(wait))
			greeting, _, err := c.readLine()
			if err != nil || !strings.HasPrefix(greeting, "* OK") {
				t.Fatalf("IMAP greeting %q: %v", greeting, err)
			}
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("DavMail did not listen on %s within %v: %v", addr, wait, err)
		}
		time.Sleep(50 * time.Millisecond) // polling an external process
	}
}

func (c *imapConn) close() { _ = c.conn.Close() }

// readLine reads one response line with its literals inlined; lits also
// holds the literal payloads in order.
func (c *imapConn) readLine() (string, [][]byte, error) {
	var line strings.Builder
	var lits [][]byte
	for {
		s, err := c.r.ReadString('\n')
		if err != nil {
			return line.String() + s, lits, err
		}
		s = strings.TrimRight(s, "\r\n")
		line.WriteString(s)
		i := strings.LastIndexByte(s, '{')
		if i < 0 || !strings.HasSuffix(s, "}") {
			return line.String(), lits, nil
		}
		n, err := strconv.Atoi(s[i+1 : len(s)-1])
		if err != nil {
			return line.String(), lits, nil
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.r, lit); err != nil {
			return line.String(), lits, err
		}
		lits = append(lits, lit)
		line.Write(lit)
	}
}

// run sends a command and returns the untagged lines, the literals and
// the tagged status line.
func (c *imapConn) run(t *testing.T, cmd string) ([]string, [][]byte, string) {
	t.Helper()
	c.tag++
	tag := fmt.Sprintf("g%03d", c.tag)
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(c.conn, "%s %s\r\n", tag, cmd); err != nil {
		t.Fatalf("IMAP %s: %v", cmd, err)
	}
	var lines []string
	var lits [][]byte
	for {
		l, ls, err := c.readLine()
		if err != nil {
			t.Fatalf("IMAP %s: %v after %q", cmd, err, lines)
		}
		lits = append(lits, ls...)
		if strings.HasPrefix(l, tag+" ") {
			return lines, lits, strings.TrimPrefix(l, tag+" ")
		}
		lines = append(lines, l)
	}
}

// ok runs a command that must succeed.
func (c *imapConn) ok(t *testing.T, cmd string) []string {
	t.Helper()
	lines, _, status := c.run(t, cmd)
	if !strings.HasPrefix(status, "OK") {
		t.Fatalf("IMAP %s: %s (untagged %q)", cmd, status, lines)
	}
	return lines
}

var listRE = regexp.MustCompile(`^\* LIST \([^)]*\) "/" "?([^"]*)"?$`)

// list returns the sorted folder names of LIST "" "*".
func (c *imapConn) list(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, l := range c.ok(t, `LIST "" "*"`) {
		if m := listRE.FindStringSubmatch(l); m != nil {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

// exists returns the last EXISTS count among untagged lines, -1 if none.
func (c *imapConn) exists(t *testing.T, lines []string) int {
	t.Helper()
	n := -1
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "*" && f[2] == "EXISTS" {
			n, _ = strconv.Atoi(f[1])
		}
	}
	return n
}

// fetchLiteral fetches one literal item (such as BODY.PEEK[]) of a message.
func (c *imapConn) fetchLiteral(t *testing.T, seq int, item string) []byte {
	t.Helper()
	lines, lits, status := c.run(t, fmt.Sprintf("FETCH %d (%s)", seq, item))
	if !strings.HasPrefix(status, "OK") || len(lits) != 1 {
		t.Fatalf("FETCH %d %s: %s, %d literals, lines %q", seq, item, status, len(lits), lines)
	}
	return lits[0]
}

// uidOfOK finds the UID of the selected folder's message with a subject.
func (c *imapConn) uidOfOK(t *testing.T, subject string) (int, bool) {
	t.Helper()
	lines, _, status := c.run(t, "FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.HasPrefix(status, "OK") {
		t.Fatalf("FETCH subjects: %s", status)
	}
	re := regexp.MustCompile(`(?s)^\* \d+ FETCH \(.*UID (\d+).*Subject: ([^\r\n]*)`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil && m[2] == subject {
			uid, _ := strconv.Atoi(m[1])
			return uid, true
		}
	}
	return 0, false
}

func (c *imapConn) uidOf(t *testing.T, subject string) int {
	t.Helper()
	uid, ok := c.uidOfOK(t, subject)
	if !ok {
		t.Fatalf("no message with subject %q in the selected folder", subject)
	}
	return uid
}

// appendMessage APPENDs a message sent as a synchronizing literal.
func (c *imapConn) appendMessage(t *testing.T, mailbox, flags, msg string) {
	t.Helper()
	c.tag++
	tag := fmt.Sprintf("g%03d", c.tag)
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(c.conn, "%s APPEND %s %s {%d}\r\n", tag, mailbox, flags, len(msg)); err != nil {
		t.Fatal(err)
	}
	l, _, err := c.readLine()
	if err != nil || !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND continuation %q: %v", l, err)
	}
	if _, err := io.WriteString(c.conn, msg+"\r\n"); err != nil {
		t.Fatal(err)
	}
	for {
		l, _, err := c.readLine()
		if err != nil {
			t.Fatalf("APPEND: %v", err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				t.Fatalf("APPEND: %s", l)
			}
			return
		}
	}
}
