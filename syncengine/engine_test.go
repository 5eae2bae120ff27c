package syncengine

import (
	"context"
	"testing"
	"time"
)

func TestEngine_LiveConvergesByItself(t *testing.T) {
	for _, mode := range []Mode{Streaming, Pull} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, 600, 6)
			events := make(chan Event, 1024)
			eng, err := New(f.store, testConfig(events))
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: f.client(), Mode: mode}); err != nil {
				t.Fatal(err)
			}
			if err := eng.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer eng.Close(ctx)
			waitEvent(t, events, EventInitialSync, 20*time.Second)
			if d := f.diff(ctx); len(d) != 0 {
				t.Fatalf("after the initial sync:\n%v", first(d, 10))
			}
			f.step(300, 11)
			f.converge(ctx, 20*time.Second)
			m := eng.Metrics()
			if m.Batches == 0 || m.Events == 0 {
				t.Fatalf("metrics %+v: the live path did not run", m)
			}
			if m.Recoveries != 0 {
				t.Fatalf("%d recoveries, want none", m.Recoveries)
			}
		})
	}
}
