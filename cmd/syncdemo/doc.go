// Command syncdemo shows mailsync working end to end, and serves the
// ewstest fake Exchange server for tests in any language.
//
// Usage:
//
//	syncdemo [demo] [flags]  run the demo
//	syncdemo sync -url URL -user NAME [flags]
//	                         mirror a real server's mailbox (-once, or live until SIGINT/SIGTERM)
//	syncdemo soak [flags]    the engine against the fake with random faults, then an exact check
//	syncdemo bench [flags]   the performance budget's scenarios (-json for one object)
//	syncdemo serve [flags]   serve the fake Exchange server until SIGINT/SIGTERM
//	syncdemo query -db PATH [flags] folders|items FOLDER|item ID|search TEXT|stats|dump
//	                         read a mirror offline (-json for scripts)
//	syncdemo export -db PATH -format mbox|maildir -out DIR [-mailbox A] [-folder F]
//	                         write a mirror's MIME for standard mail tools
//	syncdemo help            list the commands and the exit statuses
//
// # Basics
//
// The demo (the default command) runs the sync engine end to end against
// the fake, started in-process with NTLM and a seeded mailbox (-messages,
// -folders, -seed): the initial mirror into a store that stays after the
// demo (-db, default mailsync/demo.db under the user cache directory), with
// a progress bar on a terminal; then -duration of live activity (-rate
// changes per second) through a streaming subscription, one line per
// batch (events coalesced, folders synced, latency after the debounce
// window, -quiet and -max-delay); then a server restart with
// -outage-changes changes made during the outage, and the recovery report;
// then the mirror checked against the server item by item, and a summary.
// -live keeps it running afterwards until Ctrl-C.
//
// "syncdemo sync" mirrors a real server (see the README for every flag):
// -url, -user, the password from $MAILSYNC_PASSWORD, -password-file or a
// no-echo prompt, -auth ntlm|basic|bearer, -mailbox for impersonation,
// -mode streaming|pull|push, folder -include/-exclude, -mime, -once.
// Without -url it finds the EWS URL by Autodiscover for the mailbox's
// address (-autodiscover-url names the endpoint) and follows the mailbox
// when it moves. -allow-insecure-auth sends credentials over plain http to
// hosts that are not loopback; -push-cert/-push-key serve the push listener
// over TLS. It fails fast with its own exit status on refused credentials, an
// unreachable server and TLS failures; while it runs it publishes a
// read-only snapshot beside the store (-snapshot-interval) that query and
// export read. A damaged store is refused with the way on: -reset-damaged
// moves it aside and mirrors from scratch.
//
// "syncdemo soak" runs the engine against the fake for -duration with
// activity and a random fault every -fault-every (server restarts,
// dropped and stalled streaming connections, ErrorServerBusy bursts,
// latency spikes, mailbox moves, watermark expiry, invalid sync states,
// dropped connections), reports how long the mirror took to converge after
// each, and ends with an exact check of the mirror against the server.
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
// ("control URL"), and last the SOAP Autodiscover endpoint ("autodiscover
// URL"; POX at autodiscover.xml beside it). -activity N makes N changes per second (new mail, read
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
// The fake's state lives in memory and is lost when serve exits. With -auth
// none requests are anonymous: they act on the mailbox named by
// ExchangeImpersonation or X-AnchorMailbox (or on the only mailbox). Bearer tokens
// are random per run. On SIGINT/SIGTERM serve stops accepting, gives open
// requests (hanging GetStreamingEvents included) two seconds, then closes
// them.
//
// query and export open the store read-only and never create one. bbolt
// lets one writer or several readers hold a file, never both, so while a
// "syncdemo sync" runs on the store they read the snapshot it publishes
// beside it (FILE.snapshot, at most -snapshot-interval old) and say so on
// stderr; with a writer and no snapshot they fail after -wait (500 ms) with
// exit status 3.
package main
