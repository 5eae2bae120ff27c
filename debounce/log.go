package debounce

// Keys of the attributes this package adds to its log records.
const (
	// LogKeyPending is the number of keys that were pending.
	LogKeyPending = "pending_keys"
	// LogKeyLimit is Config.MaxPending.
	LogKeyLimit = "max_pending"
	// LogKeyEvents is a number of events.
	LogKeyEvents = "events"
)
