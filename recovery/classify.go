package recovery

import (
	"context"
	"errors"

	"github.com/mailsync/mailsync/ews"
)

// Action is what the engine should do about an error.
type Action uint8

// The actions Classify returns.
const (
	// None: not an error.
	None Action = iota
	// Retry: a transient failure (throttling, network, server busy); wait
	// and try the same thing again. The subscription is fine.
	Retry
	// CompareOnly: events were lost but the subscription keeps working
	// (ErrorMissedNotificationEvents, a watermark gap on a push or pull
	// subscription): compare folder props and resync what moved, without a
	// new subscription.
	CompareOnly
	// Resubscribe: the subscription is gone; open a fresh one, then
	// compare.
	Resubscribe
	// ResyncFolder: the folder's sync state is unusable; resync that
	// folder from scratch.
	ResyncFolder
	// MailboxMoved: the mailbox moved to another database; every old
	// watermark is dead. Back off, resubscribe without a watermark and
	// compare (and, with Autodiscover, look the endpoint up again).
	MailboxMoved
	// Stop: the context ended; stop without retrying.
	Stop
	// Fail: an error retrying cannot fix (bad credentials, a malformed
	// response, a rejected request); report it.
	Fail
)

var actionNames = [...]string{"none", "retry", "compare", "resubscribe", "resync-folder", "mailbox-moved", "stop", "fail"}

// String names the action.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Classify maps err to an Action through the methods of the ews error
// types: a code whose SubscriptionLost is true is Resubscribe (CompareOnly for
// ErrorMissedNotificationEvents, MailboxMoved for
// ErrorMailboxMoveInProgress), NeedsResync is ResyncFolder, IsTransient is
// Retry. A watermark gap (ews.ErrWatermarkGap) is CompareOnly; an ended
// context is Stop; anything else is Fail.
func Classify(err error) Action {
	if err == nil {
		return None
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Stop
	}
	switch {
	case errors.Is(err, ews.ErrMissedNotificationEvents), errors.Is(err, ews.ErrWatermarkGap):
		return CompareOnly
	case errors.Is(err, ews.ErrMailboxMoveInProgress):
		return MailboxMoved
	case errors.Is(err, ews.ErrSubscriptionLost):
		return Resubscribe
	}
	var lost interface{ SubscriptionLost() bool }
	if errors.As(err, &lost) && lost.SubscriptionLost() {
		return Resubscribe
	}
	var resync interface{ NeedsResync() bool }
	if errors.As(err, &resync) && resync.NeedsResync() {
		return ResyncFolder
	}
	var tr interface{ IsTransient() bool }
	if errors.As(err, &tr) && tr.IsTransient() {
		return Retry
	}
	return Fail
}
