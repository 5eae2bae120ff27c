package ews

// Keys of the structured log attributes the notification side emits (in
// addition to those in log.go).
const (
	// LogKeySubscription is a subscription id.
	LogKeySubscription = "subscription"
	// LogKeySubscriptions is the number of subscriptions on a streaming
	// connection.
	LogKeySubscriptions = "subscriptions"
	// LogKeySilentFor is how long a push subscription has been silent.
	LogKeySilentFor = "silent_for"
	// LogKeyComponent names the notification component logging
	// ("ews.streaming", "ews.push").
	LogKeyComponent = "component"
)
