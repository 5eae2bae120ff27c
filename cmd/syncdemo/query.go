package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

var (
	// errStoreMissing is returned for a -db path with no file: query and
	// export never create a store.
	errStoreMissing = errors.New("no store")

	// errNoSuch is returned for a mailbox, folder or item the store does
	// not hold. localstore.ErrNotFound is reported through it as well.
	errNoSuch = errors.New("not found")
)

// defaultLockWait is how long query and export wait for another process
// (a running sync) to release the store before giving up.
const defaultLockWait = 500 * time.Millisecond

// openMirror opens an existing store read-only. It never creates a file:
// a missing path is errStoreMissing. A store held by a writer (a running
// "syncdemo sync") fails after wait with an error matching
// localstore.ErrLocked that says what to do.
func openMirror(path string, wait time.Duration) (*localstore.Store, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: -db PATH is required", errUsage)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: check -db, or create one with \"syncdemo sync\" or the demo (-db)", errStoreMissing, path)
	}
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%w at %s: it is a directory", errStoreMissing, path)
	}
	// While "syncdemo sync" holds the store, OpenReader reads the snapshot
	// the sync publishes beside it (-snapshot-interval).
	st, err := localstore.OpenReader(path, &localstore.Options{LockTimeout: wait})
	switch {
	case err == nil:
		if st.Path() != path {
			fmt.Fprintf(os.Stderr, "syncdemo: %s is in use by a running sync; reading its snapshot %s\n", path, st.Path())
		}
		return st, nil
	case errors.Is(err, localstore.ErrLocked):
		return nil, fmt.Errorf("%w: %s is in use by another process, most likely a running \"syncdemo sync\", and no snapshot of it exists; "+
			"bbolt lets one writer or several readers open a file, never both: run the sync with -snapshot-interval (its default publishes one), "+
			"or stop it (it resumes where it left off) and retry", localstore.ErrLocked, path)
	case errors.Is(err, localstore.ErrNeedsMigration):
		return nil, fmt.Errorf("%w: %s was written by an older version; run \"syncdemo sync -once -db %s\" once to migrate it", localstore.ErrNeedsMigration, path, path)
	case errors.Is(err, localstore.ErrSchemaTooNew):
		return nil, fmt.Errorf("%s: %w; use the newer syncdemo that wrote it", path, err)
	}
	return nil, fmt.Errorf("opening %s: %w", path, err)
}

// parseInterleaved parses args with fs, allowing flags before, between and
// after the positional arguments, which it returns in order. Everything
// after "--" is positional. A bad flag is an errUsage; -h returns
// flag.ErrHelp as it is.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// queryConfig is the parsed command line of "syncdemo query".
type queryConfig struct {
	db      string
	mailbox string
	json    bool
	limit   int
	unread  bool
	before  time.Time
	folder  string
	wait    time.Duration
	cmd     string
	args    []string
}

// querySubcommand is one word of "syncdemo query".
type querySubcommand struct {
	name, args, doc string
	run             func(*queryRun, context.Context) error
}

// querySubcommands lists the query words, their arguments and what they print.
var querySubcommands = []querySubcommand{
	{"folders", "", "the folder tree with the mirror's counts", (*queryRun).folders},
	{"items", "FOLDER", "a folder's items, newest first (-limit, -unread, -before)", (*queryRun).items},
	{"item", "ID", "one item", (*queryRun).item},
	{"search", "TEXT", "items whose subject or sender contains TEXT (-folder, -limit)", (*queryRun).search},
	{"stats", "", "counts per mailbox", (*queryRun).stats},
	{"dump", "", "every folder with all its items (-json: ewstest's control-endpoint mailbox dump format)", (*queryRun).dump},
}

func parseQuery(args []string, stderr io.Writer) (*queryConfig, error) {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &queryConfig{}
	var before string
	fs.StringVar(&c.db, "db", "", "the store `file` to read (required; opened read-only, never created)")
	fs.StringVar(&c.mailbox, "mailbox", "", "the mailbox `address` to read (default: the only one; dump and stats: all)")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of tables (field names in the README)")
	fs.IntVar(&c.limit, "limit", 50, "items and search: at most `N` items (0: all)")
	fs.BoolVar(&c.unread, "unread", false, "items: unread items only")
	fs.StringVar(&before, "before", "", "items: only items received before `TIME` (RFC 3339, or 2006-01-02[T15:04:05] in UTC)")
	fs.StringVar(&c.folder, "folder", "", "search: only in this `FOLDER`")
	fs.DurationVar(&c.wait, "wait", defaultLockWait, "how long to wait for a process holding the store (a running sync)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: syncdemo query -db PATH [flags] WHAT [ARG]   (flags may also follow WHAT)")
		fmt.Fprintln(stderr, "WHAT:")
		for _, s := range querySubcommands {
			fmt.Fprintf(stderr, "  %-14s %s\n", strings.TrimSpace(s.name+" "+s.args), s.doc)
		}
		fmt.Fprintln(stderr, "FOLDER is a folder's id, its path (Inbox/Projects) or its display name.")
		fmt.Fprintln(stderr, "flags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 {
		fs.Usage()
		return nil, fmt.Errorf("%w: query needs one of folders, items FOLDER, item ID, search TEXT, stats, dump", errUsage)
	}
	c.cmd, c.args = pos[0], pos[1:]
	i := slices.IndexFunc(querySubcommands, func(s querySubcommand) bool { return s.name == c.cmd })
	if i < 0 {
		return nil, fmt.Errorf("%w: unknown query %q (folders, items, item, search, stats, dump)", errUsage, c.cmd)
	}
	if want := len(strings.Fields(querySubcommands[i].args)); len(c.args) != want {
		if want == 0 {
			return nil, fmt.Errorf("%w: query %s takes no argument", errUsage, c.cmd)
		}
		return nil, fmt.Errorf("%w: query %s needs one argument, %s", errUsage, c.cmd, querySubcommands[i].args)
	}
	if c.limit < 0 {
		return nil, fmt.Errorf("%w: -limit must not be negative", errUsage)
	}
	if c.wait < 0 {
		return nil, fmt.Errorf("%w: -wait must not be negative", errUsage)
	}
	if before != "" {
		t, err := parseTime(before)
		if err != nil {
			return nil, fmt.Errorf("%w: -before: %v", errUsage, err)
		}
		c.before = t
	}
	if c.db == "" {
		return nil, fmt.Errorf("%w: query needs -db PATH", errUsage)
	}
	return c, nil
}

// parseTime reads an RFC 3339 time, or a date or date and time without a
// zone, taken as UTC.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2024-05-01 or 2024-05-01T15:04:05Z", s)
}

// runQuery implements "syncdemo query".
func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseQuery(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := openMirror(c.db, c.wait)
	if err != nil {
		return err
	}
	defer st.Close()
	q := &queryRun{cfg: c, st: st, out: stdout}
	i := slices.IndexFunc(querySubcommands, func(s querySubcommand) bool { return s.name == c.cmd })
	return notFound(querySubcommands[i].run(q, ctx))
}

// notFound reports localstore.ErrNotFound as errNoSuch too.
func notFound(err error) error {
	if errors.Is(err, localstore.ErrNotFound) && !errors.Is(err, errNoSuch) {
		return fmt.Errorf("%w: %w", errNoSuch, err)
	}
	return err
}

// queryRun is one query against an open store.
type queryRun struct {
	cfg *queryConfig
	st  *localstore.Store
	out io.Writer
}

// mailboxes returns the mailboxes -mailbox selects: the one named, or all.
func (q *queryRun) mailboxes(ctx context.Context) ([]localstore.Mailbox, error) {
	return selectMailboxes(ctx, q.st, q.cfg.mailbox)
}

// oneMailbox returns the mailbox -mailbox names, or the store's only one.
func (q *queryRun) oneMailbox(ctx context.Context) (localstore.Mailbox, error) {
	mbs, err := q.mailboxes(ctx)
	if err != nil {
		return "", err
	}
	if len(mbs) > 1 {
		names := make([]string, len(mbs))
		for i, m := range mbs {
			names[i] = string(m)
		}
		return "", fmt.Errorf("%w: the store holds %d mailboxes (%s): pick one with -mailbox", errUsage, len(mbs), strings.Join(names, ", "))
	}
	return mbs[0], nil
}

// selectMailboxes returns the mailbox named (case-insensitively) or, for
// "", every mailbox of the store; never an empty list.
func selectMailboxes(ctx context.Context, st *localstore.Store, name string) ([]localstore.Mailbox, error) {
	states, err := st.Mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	var all []localstore.Mailbox
	for _, s := range states {
		if name == "" || strings.EqualFold(string(s.Mailbox), name) {
			all = append(all, s.Mailbox)
		}
	}
	switch {
	case len(all) > 0:
		return all, nil
	case len(states) == 0:
		return nil, fmt.Errorf("%w: the store %s holds no mailbox yet", errNoSuch, st.Path())
	}
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s.Mailbox)
	}
	return nil, fmt.Errorf("%w: no mailbox %q in the store (it holds %s)", errNoSuch, name, strings.Join(names, ", "))
}

// folderTree is one mailbox's mirrored folders with their paths.
type folderTree struct {
	mailbox localstore.Mailbox
	list    []*treeFolder // depth first, parents before children (Store.Folders order)
	byID    map[localstore.FolderID]*treeFolder
}

// treeFolder is a folder of a folderTree.
type treeFolder struct {
	localstore.Folder
	names    []string // display names from the top of the tree down to this folder
	children int      // mirrored subfolders
}

// path is the folder's path, display names joined by "/".
func (f *treeFolder) path() string { return strings.Join(f.names, "/") }

// depth is 0 for a folder at the top of the mirrored tree.
func (f *treeFolder) depth() int { return len(f.names) - 1 }

// loadTree reads mb's folder tree.
func loadTree(ctx context.Context, st *localstore.Store, mb localstore.Mailbox) (*folderTree, error) {
	t := &folderTree{mailbox: mb, byID: map[localstore.FolderID]*treeFolder{}}
	for f, err := range st.Folders(ctx, mb) {
		if err != nil {
			return nil, err
		}
		tf := &treeFolder{Folder: f, names: []string{f.DisplayName}}
		if p := t.byID[f.ParentID]; p != nil {
			tf.names = append(slices.Clip(p.names), f.DisplayName)
			p.children++
		}
		t.list = append(t.list, tf)
		t.byID[f.ID] = tf
	}
	return t, nil
}

// subtree returns f and its descendants, in tree order.
func (t *folderTree) subtree(f *treeFolder) []*treeFolder {
	in := map[localstore.FolderID]bool{f.ID: true}
	var out []*treeFolder
	for _, g := range t.list {
		if in[g.ID] || in[g.ParentID] && g.ID != g.ParentID {
			in[g.ID] = true
			out = append(out, g)
		}
	}
	return out
}

// resolve finds a folder by id, by path ("Inbox/Projects") or by display
// name; exact matches first, then case-insensitive ones. A name that
// matches several folders is a usage error listing their paths.
func (t *folderTree) resolve(arg string) (*treeFolder, error) {
	if f := t.byID[localstore.FolderID(arg)]; f != nil {
		return f, nil
	}
	trimmed := strings.Trim(arg, "/")
	for _, match := range []func(f *treeFolder) bool{
		func(f *treeFolder) bool { return f.path() == trimmed },
		func(f *treeFolder) bool { return strings.EqualFold(f.path(), trimmed) },
		func(f *treeFolder) bool { return f.DisplayName == arg },
		func(f *treeFolder) bool { return strings.EqualFold(f.DisplayName, arg) },
	} {
		var found []*treeFolder
		for _, f := range t.list {
			if match(f) {
				found = append(found, f)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		paths := make([]string, len(found))
		for i, f := range found {
			paths[i] = f.path()
		}
		return nil, fmt.Errorf("%w: %q matches %d folders of %s (%s): give its path or id", errUsage, arg, len(found), t.mailbox, strings.Join(paths, ", "))
	}
	return nil, fmt.Errorf("%w: no folder %q in %s (see \"syncdemo query folders\")", errNoSuch, arg, t.mailbox)
}
