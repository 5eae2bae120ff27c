package main

import (
	"context"

	"github.com/mailsync/mailsync/syncengine"
)

// startEngine makes an engine over store, adds mb and starts it: the
// set-up of demo, soak and the live bench. On a failure the engine is
// closed again.
func startEngine(ctx context.Context, store syncengine.Store, cfg syncengine.Config, mb syncengine.Mailbox) (*syncengine.Engine, error) {
	eng, err := syncengine.New(store, cfg)
	if err != nil {
		return nil, err
	}
	if err = eng.AddMailbox(ctx, mb); err == nil {
		err = eng.Start(ctx)
	}
	if err != nil {
		eng.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return eng, nil
}
