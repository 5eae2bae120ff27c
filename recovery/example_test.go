package recovery_test

import (
	"fmt"
	"time"

	"github.com/mailsync/mailsync/recovery"
)

// Compare what the mirror stored with fresh props: only the folder whose
// unread count moved is resynced.
func ExampleCompare() {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	props := recovery.Props{LocalCommitTimeMax: t0, DeletedCountTotal: 4, TotalCount: 120, UnreadCount: 7}
	stored := []recovery.Stored{
		{ID: "inbox", Props: props, ReadAt: t0.Add(time.Hour), Complete: true},
		{ID: "archive", Props: props, ReadAt: t0.Add(time.Hour), Complete: true},
	}
	moved := props
	moved.UnreadCount = 6 // a message read while the subscription was lost
	plan := recovery.Compare(stored, map[string]recovery.Props{"inbox": moved, "archive": props}, nil)
	fmt.Println(plan.Resync, plan.Unchanged)
	// Output: [{inbox unread-count}] 1
}
