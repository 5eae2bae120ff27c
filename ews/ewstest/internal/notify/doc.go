// Package notify is the notification side of the ewstest fake Exchange
// server: the per-database event log with opaque watermarks, and the pull,
// push and streaming subscriptions that read it.
//
// # Basics
//
// The mailbox model publishes Events for each user action; notify stamps
// them with watermarks, keeps them for a bounded retention, and delivers
// them to subscriptions with the semantics Exchange documents.
//
// # Caveats
//
// Subscriptions live in memory only, as on a real Client Access server.
package notify
