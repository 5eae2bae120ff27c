package ewstest

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Fault is a request-wide SOAP fault the server answers with HTTP 500, as
// Exchange does for throttling, schema, version and impersonation errors.
type Fault struct {
	// Code is the EWS response code, e.g. "ErrorServerBusy".
	Code string
	// Message is the fault string; "" uses Exchange's text for Code.
	Message string
	// BackOff, when positive, is sent as the BackOffMilliseconds value.
	BackOff time.Duration
}

// Error formats the fault code and text.
func (f *Fault) Error() string {
	return fmt.Sprintf("ewstest: fault %s: %s", f.Code, f.text())
}

func (f *Fault) text() string {
	if f.Message != "" {
		return f.Message
	}
	return messageText(f.Code)
}

// Faults injects failures into the server at run time. All methods are
// safe for concurrent use and take effect on the next request.
type Faults struct {
	clock Clock

	mu          sync.Mutex
	busy        int
	busyBackOff time.Duration
	invalidSync int
	drop        int
	latency     time.Duration
	hook        func(op, mailbox string) *Fault
	// waiting, when set (by tests), receives a value each time a request
	// starts waiting out the latency, so a test can advance a fake clock
	// without polling.
	waiting chan struct{}
	// closing is closed by Server.Close so that requests waiting out a
	// latency on a fake clock do not block Close.
	closing   chan struct{}
	closeOnce sync.Once
}

func (f *Faults) closingCh() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing == nil {
		f.closing = make(chan struct{})
	}
	return f.closing
}

// shutdown releases every request waiting out a latency.
func (f *Faults) shutdown() {
	ch := f.closingCh()
	f.closeOnce.Do(func() { close(ch) })
}

// ServerBusy makes the next n requests fail with an ErrorServerBusy fault
// carrying BackOffMilliseconds = backOff.
func (f *Faults) ServerBusy(n int, backOff time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy, f.busyBackOff = n, backOff
}

// InvalidSyncState makes the next n SyncFolderItems or
// SyncFolderHierarchy calls answer ErrorInvalidSyncStateData whatever
// state they send.
func (f *Faults) InvalidSyncState(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidSync = n
}

// DropConnections makes the server close the TCP connection of the next n
// requests without answering.
func (f *Faults) DropConnections(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop = n
}

// SetLatency delays every request by d on the server's clock (with a fake
// clock the request waits until the test advances it).
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// SetHook installs a function called for every request with the operation
// name and the target mailbox; a non-nil Fault it returns is sent instead
// of running the operation. nil removes the hook.
func (f *Faults) SetHook(h func(op, mailbox string) *Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

func (f *Faults) takeDrop() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drop > 0 {
		f.drop--
		return true
	}
	return false
}

// waitLatency waits out the configured latency on the server's clock. It
// returns false when ctx ends first.
func (f *Faults) waitLatency(ctx context.Context) bool {
	f.mu.Lock()
	d, w := f.latency, f.waiting
	f.mu.Unlock()
	if d <= 0 {
		return true
	}
	done := make(chan struct{})
	stop := f.clock.AfterFunc(d, func() { close(done) })
	if w != nil {
		w <- struct{}{}
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		stop()
		return false
	case <-f.closingCh():
		stop()
		return false
	}
}

func (f *Faults) takeBusy() *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy > 0 {
		f.busy--
		return &Fault{Code: "ErrorServerBusy", BackOff: f.busyBackOff}
	}
	return nil
}

func (f *Faults) takeInvalidSync() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.invalidSync > 0 {
		f.invalidSync--
		return true
	}
	return false
}

func (f *Faults) runHook(op, mailbox string) *Fault {
	f.mu.Lock()
	h := f.hook
	f.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(op, mailbox)
}
