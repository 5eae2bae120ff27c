package syncengine

import (
	"context"
	"testing"
	"time"
)

func TestEngine_PushConvergesByItself(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.Push = PushConfig{Listen: "127.0.0.1:0"}
	eng := startEngine(t, f, Mailbox{Mode: Push}, cfg)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.step(150, 21)
	f.converge(ctx, 20*time.Second)
	if m := eng.Metrics(); m.Batches == 0 || m.Events == 0 || m.Recoveries != 0 {
		t.Fatalf("metrics %+v", m)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestEngine_PushNeedsAListener(t *testing.T) {
	f := newFixture(t, 0, 0)
	eng, err := New(f.store, testConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.AddMailbox(context.Background(), Mailbox{Address: testAddr, Client: f.client(), Mode: Push}); err != ErrPushNotConfigured {
		t.Fatalf("AddMailbox: %v", err)
	}
}
