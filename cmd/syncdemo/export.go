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
	"time"

	"github.com/mailsync/mailsync/localstore"
)

var (
	// errNoMIME is matched by a *noMIMEError.
	errNoMIME = errors.New("no mirrored MIME")

	// errPartialExport is matched by a *partialExportError.
	errPartialExport = errors.New("export incomplete")
)

// noMIMEError is the refusal to export a selection whose items have no
// mirrored MIME (the mirror was synced without -mime). Nothing is written.
type noMIMEError struct {
	Items int // items selected, none with MIME
}

// Error says what is missing and how to get it.
func (e *noMIMEError) Error() string {
	return fmt.Sprintf("none of the %d selected items has mirrored MIME, so there is nothing to export: sync with -mime first", e.Items)
}

// Is reports errNoMIME.
func (e *noMIMEError) Is(target error) bool { return target == errNoMIME }

// partialExportError reports an export that wrote every item with MIME
// but had to skip items whose MIME was not mirrored.
type partialExportError struct {
	Written, Skipped int
}

// Error gives the counts.
func (e *partialExportError) Error() string {
	return fmt.Sprintf("wrote %d messages, skipped %d items whose MIME is not mirrored (a sync with -mime fetches it)", e.Written, e.Skipped)
}

// Is reports errPartialExport.
func (e *partialExportError) Is(target error) bool { return target == errPartialExport }

// exportConfig is the parsed command line of "syncdemo export".
type exportConfig struct {
	db      string
	format  string
	out     string
	mailbox string
	folder  string
	wait    time.Duration
	noSync  bool
}

func parseExport(args []string, stderr io.Writer) (*exportConfig, error) {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &exportConfig{}
	fs.StringVar(&c.db, "db", "", "the store `file` to read (required; opened read-only, never created)")
	fs.StringVar(&c.format, "format", "", "mbox (one mboxrd file per folder) or maildir (a Maildir++ tree)")
	fs.StringVar(&c.out, "out", "", "the `directory` to write; must not exist or be empty")
	fs.StringVar(&c.mailbox, "mailbox", "", "export only this mailbox `address` (default: all; several go to OUT/ADDRESS/)")
	fs.StringVar(&c.folder, "folder", "", "export only this `FOLDER` (id, path or display name) and its subfolders")
	fs.DurationVar(&c.wait, "wait", defaultLockWait, "how long to wait for a process holding the store (a running sync)")
	fs.BoolVar(&c.noSync, "no-fsync", false, "do not fsync each file (faster; a power loss may then lose renamed files' contents)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: syncdemo export -db PATH -format mbox|maildir -out DIR [-mailbox A] [-folder F]")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) > 0:
		return nil, fmt.Errorf("%w: export takes no arguments, only flags", errUsage)
	case c.db == "":
		return nil, fmt.Errorf("%w: export needs -db PATH", errUsage)
	case c.format != "mbox" && c.format != "maildir":
		return nil, fmt.Errorf("%w: -format must be mbox or maildir", errUsage)
	case c.out == "":
		return nil, fmt.Errorf("%w: export needs -out DIR", errUsage)
	case c.wait < 0:
		return nil, fmt.Errorf("%w: -wait must not be negative", errUsage)
	}
	return c, nil
}

// exportFolder is one folder to export with the items it holds, oldest
// first, and where it goes.
type exportFolder struct {
	*treeFolder
	dest      string // mbox: the file; maildir: the maildir directory
	subfolder bool   // maildir: a Maildir++ subfolder, not the root (INBOX)
	items     []exportItem
}

// exportItem is what the writers need of an item besides its MIME.
type exportItem struct {
	id       localstore.ItemID
	received time.Time
	sender   string
	isRead   bool
}

// exportPlan is the work of one export: every folder of every selected
// mailbox.
type exportPlan struct {
	mailboxes []localstore.Mailbox
	roots     map[localstore.Mailbox]string // each mailbox's directory
	folders   map[localstore.Mailbox][]*exportFolder
	items     int // items with MIME: what will be written
	skipped   int // items without MIME
}

// runExport implements "syncdemo export".
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseExport(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := checkOutDir(c.out); err != nil {
		return err
	}
	st, err := openMirror(c.db, c.wait)
	if err != nil {
		return err
	}
	defer st.Close()
	plan, err := planExport(ctx, st, c)
	if err != nil {
		return notFound(err)
	}
	if err := os.MkdirAll(c.out, 0o700); err != nil {
		return err
	}
	w := &exportWriter{st: st, cfg: c, progress: newProgress(stderr, plan.items)}
	start := time.Now()
	for _, mb := range plan.mailboxes {
		if c.format == "maildir" {
			if err := w.makeMaildir(plan.roots[mb], false); err != nil {
				return err
			}
		}
		for _, f := range plan.folders[mb] {
			var err error
			if c.format == "mbox" {
				err = w.writeMbox(ctx, mb, f)
			} else {
				err = w.writeMaildir(ctx, mb, f)
			}
			if err != nil {
				w.progress.done()
				return err
			}
		}
	}
	w.progress.done()
	nf := 0
	for _, fs := range plan.folders {
		nf += len(fs)
	}
	fmt.Fprintf(stdout, "exported %d messages (%s) from %d folders to %s as %s in %v\n",
		w.written, byteCount(w.bytes), nf, c.out, c.format, time.Since(start).Round(time.Millisecond))
	if plan.skipped > 0 {
		return &partialExportError{Written: w.written, Skipped: plan.skipped}
	}
	return nil
}

// checkOutDir accepts a directory that does not exist or is empty, so an
// export never mixes with or overwrites other files.
func checkOutDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: -out %s is not a directory", errUsage, dir)
	}
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%w: -out %s is not empty: export into a new or empty directory", errUsage, dir)
	}
	return nil
}

// planExport selects the mailboxes and folders, lists their items and
// checks that there is MIME to export.
func planExport(ctx context.Context, st *localstore.Store, c *exportConfig) (*exportPlan, error) {
	mbs, err := selectMailboxes(ctx, st, c.mailbox)
	if err != nil {
		return nil, err
	}
	plan := &exportPlan{mailboxes: mbs, roots: map[localstore.Mailbox]string{}, folders: map[localstore.Mailbox][]*exportFolder{}}
	selected := 0
	for _, mb := range mbs {
		t, err := loadTree(ctx, st, mb)
		if err != nil {
			return nil, err
		}
		sel := t.list
		if c.folder != "" {
			f, err := t.resolve(c.folder)
			if err != nil {
				return nil, err
			}
			sel = t.subtree(f)
		}
		root := c.out
		if len(mbs) > 1 {
			root = filepath.Join(c.out, sanitizeName(string(mb), false))
		}
		plan.roots[mb] = root
		var dests map[localstore.FolderID]string
		if c.format == "mbox" {
			dests = mboxPaths(root, t)
		} else {
			dests = maildirPaths(root, t)
		}
		for _, f := range sel {
			ef := &exportFolder{treeFolder: f, dest: dests[f.ID], subfolder: dests[f.ID] != root}
			for it, err := range st.Items(ctx, mb, f.ID, localstore.Query{}) {
				if err != nil {
					return nil, err
				}
				selected++
				ok, err := hasMIME(ctx, st, mb, it.ID)
				if err != nil {
					return nil, err
				}
				if !ok {
					plan.skipped++
					continue
				}
				plan.items++
				ef.items = append(ef.items, exportItem{id: it.ID, received: it.Received, sender: it.From.Email, isRead: it.IsRead})
			}
			slices.Reverse(ef.items) // oldest first, as mail is appended
			plan.folders[mb] = append(plan.folders[mb], ef)
		}
	}
	if selected > 0 && plan.items == 0 {
		return nil, &noMIMEError{Items: selected}
	}
	return plan, nil
}

// hasMIME reports whether the store holds MIME for the item.
func hasMIME(ctx context.Context, st *localstore.Store, mb localstore.Mailbox, id localstore.ItemID) (bool, error) {
	r, err := st.MIME(ctx, mb, id)
	if errors.Is(err, localstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, r.Close()
}

// sanitizeName makes a folder name safe as one file name component on
// Unix, macOS and Windows: path separators, control characters and
// characters Windows refuses become "_", as do a leading dot and (for
// Maildir++, where it separates levels) every dot; leading spaces and
// trailing dots and spaces go; an empty result is "_".
func sanitizeName(name string, dots bool) string {
	name = strings.TrimLeft(name, " ")
	var b strings.Builder
	for i, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r):
			b.WriteByte('_')
		case r == '.' && (dots || i == 0):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.TrimRight(b.String(), ". ")
	if s == "" {
		return "_"
	}
	return s
}

// uniqueName returns name, or name~2, name~3… so that none of the names
// claims(n) returns is in used (compared case-insensitively, for
// case-insensitive file systems), and records them as used.
func uniqueName(name string, used map[string]bool, claims func(string) []string) string {
	for i := 1; ; i++ {
		n := name
		if i > 1 {
			n = fmt.Sprintf("%s~%d", name, i)
		}
		keys := claims(n)
		if !slices.ContainsFunc(keys, func(k string) bool { return used[strings.ToLower(k)] }) {
			for _, k := range keys {
				used[strings.ToLower(k)] = true
			}
			return n
		}
	}
}

// mboxPaths places each folder's mbox file: ROOT/A/B/C.mbox for the
// folder A/B/C, so a folder's subfolders live in a directory named after
// it next to its file.
func mboxPaths(root string, t *folderTree) map[localstore.FolderID]string {
	dirs := map[localstore.FolderID]string{} // where each folder's subfolders go
	used := map[string]bool{}
	out := map[localstore.FolderID]string{}
	for _, f := range t.list {
		parent := root
		if d, ok := dirs[f.ParentID]; ok {
			parent = d
		}
		name := uniqueName(sanitizeName(f.DisplayName, false), used, func(n string) []string {
			return []string{filepath.Join(parent, n), filepath.Join(parent, n+".mbox")}
		})
		dirs[f.ID] = filepath.Join(parent, name)
		out[f.ID] = filepath.Join(parent, name+".mbox")
	}
	return out
}

// maildirPaths places each folder's maildir in a Maildir++ tree: the
// top-level folder named Inbox is ROOT itself (INBOX); every other folder
// A/B/C is ROOT/.A.B.C.
func maildirPaths(root string, t *folderTree) map[localstore.FolderID]string {
	names := map[localstore.FolderID]string{} // Maildir++ name without the leading dot
	used := map[string]bool{}
	out := map[localstore.FolderID]string{}
	inbox := false
	for _, f := range t.list {
		parent, nested := names[f.ParentID]
		if !nested && !inbox && strings.EqualFold(f.DisplayName, "Inbox") {
			inbox = true
			names[f.ID] = "Inbox"
			used[".inbox"] = true
			out[f.ID] = root
			continue
		}
		name := uniqueName(sanitizeName(f.DisplayName, true), used, func(n string) []string {
			if nested {
				n = parent + "." + n
			}
			return []string{"." + n}
		})
		if nested {
			name = parent + "." + name
		}
		names[f.ID] = name
		out[f.ID] = filepath.Join(root, "."+name)
	}
	return out
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progress shows "exporting N/M messages" on a terminal, at most ten
// times a second; elsewhere it is silent.
type progress struct {
	w     io.Writer // nil when not a terminal
	total int
	n     int
	last  time.Time
}

func newProgress(stderr io.Writer, total int) *progress {
	p := &progress{total: total}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		p.w = f
	}
	return p
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) add(folder string) {
	p.n++
	if p.w == nil || (time.Since(p.last) < 100*time.Millisecond && p.n < p.total) {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r\033[Kexporting %d/%d messages (%d%%) %s", p.n, p.total, 100*p.n/max(p.total, 1), clip(folder, 40))
}

func (p *progress) done() {
	if p.w != nil && p.n > 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
