// Command syncdemo shows mailsync working end to end, and serves the
// ewstest fake Exchange server for tests in any language.
//
// Usage:
//
//	syncdemo [demo] [flags]  run the demo
//	syncdemo serve [flags]   serve the fake Exchange server until SIGINT/SIGTERM
//	syncdemo help            list the commands
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
// "syncdemo serve" seeds one mailbox per user (-users name:password,...;
// user NAME owns NAME@DOMAIN, -domain example.com by default) with
// -messages messages in -folders user folders, reproducibly for a given
// -seed, and serves EWS at http://ADDR/EWS/Exchange.asmx with -auth ntlm
// (default), basic, bearer or none. Its first line of output is that URL,
// printed once the listener accepts connections; then one line per
// mailbox ("mailbox ADDRESS user=NAME folders=N messages=N"), with -auth
// bearer one line per user ("token NAME TOKEN"), and with -control TOKEN
// the control endpoint's URL ("control URL"). -activity N makes N changes
// per second (new mail, read flags, flags, moves, deletes, folder
// changes); -max-concurrent and -latency are the throttling knobs. Logs
// go to stderr.
//
// The control endpoint (off unless -control TOKEN is given; every call
// needs "Authorization: Bearer TOKEN") is documented on ewstest.Control;
// GET /ewstest/control/ lists its calls.
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
package main
