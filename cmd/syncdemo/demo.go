package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mailsync/mailsync/ews/ewstest"
)

// runDemo is the default command. Until the sync engine is wired in, it
// starts the fake Exchange server in-process with a seeded mailbox, prints
// its URL and the mailbox's folder tree with item counts, and exits.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: demo takes no arguments", errUsage)
	}
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}}})
	defer srv.Close()
	mb := srv.Mailbox("alice@example.com")
	if _, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 1000, Folders: 10, Seed: 1}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, srv.URL)
	depth := map[string]int{}
	for _, f := range mb.Folders() {
		d := 0
		if f.ParentID != "" {
			d = depth[f.ParentID] + 1
		}
		depth[f.ID] = d
		fmt.Fprintf(stdout, "%s%-*s %6d items %5d unread\n", strings.Repeat("  ", d), 40-2*d, f.DisplayName, f.TotalCount, f.UnreadCount)
	}
	return ctx.Err()
}
