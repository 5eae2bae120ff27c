package syncengine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// TestEngine_WatermarkOverrun: an overrun event log kills every old
// watermark. A live pull subscription reads its own queue and goes on; a
// restarted engine never resumes from a stored watermark, so neither path
// depends on the log, and both converge.
func TestEngine_WatermarkOverrun(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 4)
	events := make(chan Event, 1024)
	eng := startEngine(t, f, Mailbox{Mode: Pull}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	if err := f.srv.OverrunWatermarks(testAddr); err != nil {
		t.Fatal(err)
	}
	f.changeInbox(2)
	f.step(40, 2)
	f.converge(ctx, 20*time.Second)
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.OverrunWatermarks(testAddr); err != nil {
		t.Fatal(err)
	}
	f.changeInbox(2)
	events2 := make(chan Event, 1024)
	startEngine(t, f, Mailbox{Mode: Pull}, testConfig(events2))
	if ev := waitEvent(t, events2, EventRecovery, 20*time.Second); ev.Recovery.Cause != "restart" {
		t.Fatalf("report %+v", ev.Recovery)
	}
	f.converge(ctx, 20*time.Second)
}

// TestEngine_StreamDownPastThreshold fails every GetStreamingEvents for a
// while: once the connection has been failing for StreamDownAfter, the
// mailbox recovers (without the stream) and converges; changes made during
// the outage are not lost.
func TestEngine_StreamDownPastThreshold(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 4)
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.StreamDownAfter = 300 * time.Millisecond
	startEngine(t, f, Mailbox{}, cfg)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	var down atomic.Bool
	down.Store(true)
	f.srv.Faults().SetHook(func(op, mailbox string) *ewstest.Fault {
		if op == "GetStreamingEvents" && down.Load() {
			return &ewstest.Fault{Code: "ErrorInternalServerError", Message: "injected stream failure"}
		}
		return nil
	})
	f.srv.DropStreamingConnections("")
	f.changeInbox(3)
	ev := waitEvent(t, events, EventRecovery, 30*time.Second)
	if !ev.Recovery.Resubscribed {
		t.Fatalf("report %+v", ev.Recovery)
	}
	down.Store(false)
	f.step(40, 3) // live again
	f.converge(ctx, 30*time.Second)
}

// TestEngine_PushSilencePastLiveness: a push subscription that goes quiet
// (the server forgot it, or could not reach the listener through its whole
// retry schedule) is declared lost after 2 × StatusFrequency plus slack on
// the engine's clock, and the mailbox recovers.
func TestEngine_PushSilencePastLiveness(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 4)
	events := make(chan Event, 1024)
	clk := debouncetest.NewClock(time.Now())
	cfg := testConfig(events)
	cfg.Clock = clk
	cfg.Push = PushConfig{Listen: "127.0.0.1:0", LivenessSlack: 10 * time.Second}
	cfg.SweepInterval = -1
	startEngine(t, f, Mailbox{Mode: Push}, cfg)
	stop := accelerate(clk, cfg.Quiet)
	defer stop()
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.step(30, 4)
	f.converge(ctx, 20*time.Second)
	stop()

	f.srv.Restart() // the server sends nothing more for this subscription
	f.changeInbox(2)
	clk.Advance(2*DefaultStatusFrequency + 10*time.Second + time.Second)
	stop = accelerate(clk, cfg.Quiet)
	defer stop()
	ev := waitEvent(t, events, EventRecovery, 20*time.Second)
	if !ev.Recovery.Resubscribed {
		t.Fatalf("report %+v", ev.Recovery)
	}
	f.converge(ctx, 20*time.Second)
}

// accelerate advances clk by step every millisecond of wall time until the
// returned function is called, so that an engine on a fake clock makes
// progress while a test waits for a condition.
func accelerate(clk *debouncetest.Clock, step time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				clk.Advance(step)
			}
		}
	}()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			close(done)
			<-finished
		}
	}
}
