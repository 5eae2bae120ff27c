// Command syncdemo shows mailsync working end to end, and serves the
// ewstest fake Exchange server for tests in any language.
//
// Usage:
//
//	syncdemo                 run the demo
//	syncdemo serve [flags]   serve the fake Exchange server until SIGINT/SIGTERM
//	syncdemo help            list the commands
//
// # Basics
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
// The default command is an interim demo: it starts the fake in-process
// with a seeded mailbox, prints its URL and folder counts, and exits. The
// fake's state lives in memory and is lost when serve exits. With -auth
// none requests are anonymous: they act on the mailbox named by
// ExchangeImpersonation or X-AnchorMailbox (or on the only mailbox). Bearer tokens
// are random per run. On SIGINT/SIGTERM serve stops accepting, gives open
// requests (hanging GetStreamingEvents included) two seconds, then closes
// them.
package main
