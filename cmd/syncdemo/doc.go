// Command syncdemo shows mailsync working end to end, and serves the
// ewstest fake Exchange server for tests in any language.
//
// Usage:
//
//	syncdemo [demo] [flags]  run the demo
//	syncdemo serve [flags]   serve the fake Exchange server until SIGINT/SIGTERM
//	syncdemo query -db PATH [flags] folders|items FOLDER|item ID|search TEXT|stats|dump
//	                         read a mirror offline (-json for scripts)
//	syncdemo export -db PATH -format mbox|maildir -out DIR [-mailbox A] [-folder F]
//	                         write a mirror's MIME for standard mail tools
//	syncdemo help            list the commands and the exit statuses
//
// # Basics
//
// The demo (the default command) shows the foundation working together over
// the wire. It starts the fake with NTLM and a seeded mailbox (-messages,
// -folders, -seed) and mirrors it into a bbolt store (-db, default a
// temporary file) through the ews client: SyncFolderHierarchy, then per
// folder GetFolder for PR_LOCAL_COMMIT_TIME_MAX and PR_DELETED_COUNT_TOTAL
// followed by SyncFolderItems, each page applied in one transaction with
// its SyncState and those props. It then opens a streaming subscription and
// for -live lets the fake's activity generator make -rate changes per
// second; the events are debounced by folder (-quiet, -max-delay) and each
// batch of dirty folders is synced and applied. A last reconciliation pass
// reports what the live phase missed, and the demo fails unless the
// mirror's counts equal the server's own and the store's integrity check
// passes.
//
// "syncdemo serve" seeds one mailbox per user (-users alice,bob by
// default; user NAME owns NAME@DOMAIN, -domain example.com by default) with
// -messages messages in -folders user folders, reproducibly for a given
// -seed, and serves EWS at http://ADDR/EWS/Exchange.asmx with -auth ntlm
// (default), basic, bearer or none. No secret is taken from the command
// line, where the process list shows it: every -users user has the password
// in $MAILSYNC_SERVE_PASSWORD, or the documented demo password "secret"
// when that is unset; -users-file FILE gives name:password lines instead
// (# starts a comment). Its first line of output is that URL, printed once
// the listener accepts connections; then one line per mailbox ("mailbox
// ADDRESS user=NAME folders=N messages=N"), with -auth bearer one line per
// user ("token NAME TOKEN"), and with -control the control endpoint's URL
// ("control URL"). -activity N makes N changes per second (new mail, read
// flags, flags, moves, deletes, folder changes); -max-concurrent and
// -latency are the throttling knobs. Logs go to stderr. Errors never repeat
// a password or token.
//
// The control endpoint (off unless -control or -control-token-file is
// given; every call needs "Authorization: Bearer TOKEN") is documented on
// ewstest.Control; GET /ewstest/control/ lists its calls. Its token is
// the first line of -control-token-file, else $MAILSYNC_CONTROL_TOKEN, else
// a random one printed after the URL line ("control-token TOKEN").
//
// "syncdemo query" reads a store offline: "folders" (the tree with the
// mirror's counts), "items FOLDER" (newest first; -limit, 50 by default,
// -unread, -before TIME), "item ID", "search TEXT" (-folder), "stats" and
// "dump" (every folder with all its items). FOLDER is an id, a path such
// as Inbox/Projects or a display name. Flags may come before or after the
// word. -json prints JSON; "-json dump" uses the field names and types of
// ewstest's control-endpoint mailbox dump (see query_dump.go for what it
// leaves out), and dumpnorm.jq makes the two diffable.
//
// "syncdemo export" writes the mirrored MIME: -format mbox gives one
// mboxrd file per folder, DIR/A/B.mbox for folder A/B, "From " lines
// quoted and "Status: RO" on read messages; -format maildir gives a
// Maildir++ tree, the top-level Inbox in DIR itself and every other folder
// A/B in DIR/.A.B, unread messages in new/, read ones in cur/ with ":2,S".
// Names are sanitized for every file system ("/", "\", control and Windows-
// reserved characters, and for Maildir++ ".", become "_"; clashes get "~2").
// Line ends become LF. Each file is written under a temporary name and
// renamed when complete; files are 0600 and directories 0700. DIR must
// not exist or be empty. A store holding several mailboxes exports each
// to DIR/ADDRESS unless -mailbox picks one.
//
// # Caveats
//
// The demo's orchestration is a stand-in for the sync engine (syncengine/),
// which will own subscriptions, recovery and many mailboxes. The
// fake's state lives in memory and is lost when serve exits. With -auth
// none requests are anonymous: they act on the mailbox named by
// ExchangeImpersonation or X-AnchorMailbox (or on the only mailbox). Bearer tokens
// are random per run. On SIGINT/SIGTERM serve stops accepting, gives open
// requests (hanging GetStreamingEvents included) two seconds, then closes
// them.
//
// query and export open the store read-only and never create one. bbolt
// lets one writer or several readers hold a file, never both, so while a
// "syncdemo sync" runs on the store they fail after -wait (500 ms) with
// exit status 3 and say so.
package main
