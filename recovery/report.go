package recovery

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Report is what one recovery did, for the engine's status, the log and
// the one line syncdemo prints.
type Report struct {
	// Mailbox is the mailbox recovered.
	Mailbox string `json:"mailbox"`
	// Cause says why: the error that ended the subscription, "restart"
	// (the process was down), "missed events", "overflow", "sweep", ...
	Cause string `json:"cause"`
	// Action is what the cause called for.
	Action Action `json:"-"`
	// Resubscribed reports whether a fresh subscription was opened.
	Resubscribed bool `json:"resubscribed"`
	// MailboxMoved reports that the mailbox had moved to another database.
	MailboxMoved bool `json:"mailboxMoved,omitempty"`
	// Compared is the number of folders whose props were compared.
	Compared int `json:"compared"`
	// Resynced is the number of folders synced with SyncFolderItems.
	Resynced int `json:"resynced"`
	// Reasons counts the resynced folders by reason.
	Reasons map[Reason]int `json:"reasons,omitempty"`
	// New is the number of folders the hierarchy sync brought in.
	New int `json:"new"`
	// Removed is the number of folders removed from the mirror.
	Removed int `json:"removed"`
	// Recheck is the number of folders left to the recheck that follows
	// the recovery: those the comparison found unchanged, synced later
	// from their SyncStates to find what no compared prop shows.
	Recheck int `json:"recheck"`
	// Requests is the number of EWS calls the recovery made.
	Requests int64 `json:"requests"`
	// Items is the number of item changes applied.
	Items int `json:"items"`
	// Attempts is how many times the recovery ran (more than one after
	// failures half way).
	Attempts int `json:"attempts"`
	// Started is when the recovery began; Duration how long it took.
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"durationNs"`
	// Err is the error that ended the recovery, if it failed.
	Err error `json:"-"`
}

// String formats the report as one line.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "recovery %s: cause %s", r.Mailbox, r.Cause)
	if r.MailboxMoved {
		b.WriteString(" (mailbox moved)")
	}
	if r.Resubscribed {
		b.WriteString(", new subscription")
	}
	fmt.Fprintf(&b, ", %d folders compared, %d resynced", r.Compared, r.Resynced)
	if len(r.Reasons) > 0 {
		keys := make([]string, 0, len(r.Reasons))
		for k := range r.Reasons {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, r.Reasons[Reason(k)])
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if r.New > 0 || r.Removed > 0 {
		fmt.Fprintf(&b, ", %d new, %d removed", r.New, r.Removed)
	}
	fmt.Fprintf(&b, ", %d items changed, %d requests, %v", r.Items, r.Requests, r.Duration.Round(time.Millisecond))
	if r.Recheck > 0 {
		fmt.Fprintf(&b, ", %d folders to recheck", r.Recheck)
	}
	if r.Attempts > 1 {
		fmt.Fprintf(&b, ", %d attempts", r.Attempts)
	}
	if r.Err != nil {
		fmt.Fprintf(&b, ", failed: %v", r.Err)
	}
	return b.String()
}
