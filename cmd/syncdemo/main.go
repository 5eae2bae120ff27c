package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mailsync/mailsync/localstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncdemo:", err)
		os.Exit(exitStatus(err))
	}
}

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

// Exit statuses. Every status a command can end with is listed in
// exitStatuses, which both main and the help text read.
const (
	exitFailure      = 1 // anything not listed below
	exitUsage        = 2
	exitStoreLocked  = 3
	exitStoreTooNew  = 4
	exitStoreMissing = 5
	exitStoreBad     = 6
	exitNotFound     = 7
	exitNoMIME       = 8
	exitPartial      = 9
	exitCredentials  = 10
	exitUnreachable  = 11
	exitTLS          = 12
)

// exitStatuses maps errors to exit statuses, first match wins; an error
// matching none exits with exitFailure.
var exitStatuses = []struct {
	code  int
	match func(error) bool
	doc   string
}{
	{exitUsage, isErr(errUsage), "bad command line"},
	{exitStoreLocked, isErr(localstore.ErrLocked), "the store is locked by another process (a running sync)"},
	{exitStoreTooNew, isErr(localstore.ErrSchemaTooNew), "the store was written by a newer version"},
	{exitStoreMissing, isErr(errStoreMissing), "no store at -db PATH"},
	{exitStoreBad, func(err error) bool {
		return errors.Is(err, localstore.ErrNotStore) || errors.Is(err, localstore.ErrCorrupt) || errors.Is(err, localstore.ErrNeedsMigration)
	}, "the file is not a usable store (foreign, damaged, or needs a read-write open to migrate)"},
	{exitNotFound, isErr(errNoSuch), "no such mailbox, folder or item in the store"},
	{exitNoMIME, isErr(errNoMIME), "export: the selection has no mirrored MIME"},
	{exitPartial, isErr(errPartialExport), "export: written, but some items had no mirrored MIME"},
	{exitCredentials, isErr(errCredentials), "sync: the server refused the credentials"},
	{exitUnreachable, isErr(errUnreachable), "sync: the server is unreachable"},
	{exitTLS, isErr(errTLS), "sync: TLS failure (certificate not trusted, or not TLS)"},
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// exitStatus returns the exit status for an error returned by run.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	for _, s := range exitStatuses {
		if s.match(err) {
			return s.code
		}
	}
	return exitFailure
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands; the first is the default.
var commands = []command{
	{"demo", "run the demo (the default)", runDemo},
	{"sync", "mirror a real server's mailbox into a store", runSync},
	{"soak", "run the engine against the fake with random faults, then check the mirror exactly", runSoak},
	{"bench", "run the performance scenarios against an in-process fake and compare with the budget", runBench},
	{"serve", "serve the fake Exchange server", runServe},
	{"query", "read a mirror offline: folders, items, item, search, stats, dump", runQuery},
	{"export", "write a mirror's MIME as mbox files or a Maildir++ tree", runExport},
}

// run dispatches to a subcommand. It returns when the subcommand is done
// or ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := "demo"
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-') {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, args, stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: syncdemo [command] [flags]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help     print this help")
	fmt.Fprintln(w, `"syncdemo COMMAND -h" lists a command's flags.`)
	fmt.Fprintln(w, "exit status:")
	fmt.Fprintln(w, "  0  success")
	fmt.Fprintf(w, "  %d  failure not listed below\n", exitFailure)
	for _, s := range exitStatuses {
		fmt.Fprintf(w, "  %d  %s\n", s.code, s.doc)
	}
}
