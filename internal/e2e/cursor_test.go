package e2e

import (
	"context"
	"testing"
	"time"
)

// The event order of the CI failure of TestE2EBlindTransferNoAnswer:
// Hotline rang carol as soon as it stored her registration, and her
// auto-answered call was reported before the REGISTER's 200 OK. Waiting
// for the registration must not make the next wait miss that call.
func TestWaitRegisteredKeepsEarlierCallEvents(t *testing.T) {
	b := &Baresip{notify: make(chan struct{}), exited: make(chan struct{})}
	for _, typ := range []string{"REGISTERING", EventCallIncoming, EventCallEstablished, EventRegisterOK} {
		b.addEvent(Event{Type: typ})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, EventCallEstablished); err != nil {
		t.Fatalf("the call answered before REGISTER_OK was reported is lost: %v", err)
	}
	// The cursor still moves on for ordinary waits.
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if ev, err := b.WaitEvent(short, EventCallEstablished); err == nil {
		t.Fatalf("the same CALL_ESTABLISHED was returned twice: %+v", ev)
	}
}
