// Package throttle is the throttling layer of the ewstest fake Exchange
// server: a per-user limit on concurrent requests answered with
// ErrorServerBusy, bursts of ErrorServerBusy on demand, and an optional
// latency added to every request.
//
// # Basics
//
// New wraps the EWS handler (inside the authentication middleware, so the
// user is known). A request over the user's concurrency limit, or one that
// falls in a burst armed with Limiter.Busy, is answered with HTTP 500 and
// the SOAP fault Exchange sends when it throttles (EWS-PROTOCOL.md S15):
// faultcode a:ErrorServerBusy, detail e:ResponseCode ErrorServerBusy and
// t:MessageXml/t:Value Name="BackOffMilliseconds". The wrapped handler does
// not run for it. Every admitted request first waits Config.Latency, through
// an injectable sleeper that defaults to a real timer so that the delay is
// visible over the network.
//
// GetStreamingEvents requests are hanging connections with their own limit
// (enforced by the notification layer): they never count against, and are
// never refused by, the concurrent-request limit. They are recognised by
// peeking at the start of the body without consuming it.
//
// # Caveats
//
// The limit counts requests in flight in this process per user name from
// the request context (authn.UserFromContext); anonymous requests share one
// bucket. Exchange's budgets (EWSMaxConcurrency and the token-bucket
// EWSPercentTimeIn* policies) are richer; only the concurrency limit is
// modelled. Latency is added before the handler runs, and a request whose
// context ends while it waits gets no response.
package throttle
