package records

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// Kept is one kind of live state a Keeper saves and puts back across a
// restart, e.g. the registrar's bindings or the agents' logins.
type Kept struct {
	// Kind names the state in the store (SaveState, LoadState).
	Kind string
	// LocalFallback, when set, is restored from this node's own state
	// directory (never the database, where other nodes saved theirs under
	// it) when Kind has no saved state: the kind's earlier name, before
	// it was kept per node.
	LocalFallback string
	// Snapshot returns the state now, to be saved as JSON.
	Snapshot func() any
	// Restore puts a saved snapshot back. It returns how many items it
	// restored, and what it could not restore (logged, never fatal).
	Restore func(saved json.RawMessage) (int, error)
	// Generation, when set, counts the state's changes: while it stays
	// the same the snapshot is not taken again (with thousands of phones
	// registered, a snapshot each interval is most of an idle service's
	// work).
	Generation func() uint64
}

// RestoreList adapts a restore of a list of saved items (e.g.
// registrar.Restore) to Kept.Restore.
func RestoreList[T any](restore func([]T) (int, error)) func(json.RawMessage) (int, error) {
	return func(saved json.RawMessage) (int, error) {
		var items []T
		if err := json.Unmarshal(saved, &items); err != nil {
			return 0, err
		}
		return restore(items)
	}
}

// Keeper saves kinds of live state into the store when they change
// (Run checks every interval; Save once more at shutdown) and puts them
// back at start (Restore), so that a restart neither unregisters phones
// whose bindings have not expired nor logs agents out.
type Keeper struct {
	store *Store
	kinds []Kept
	log   *slog.Logger

	mu   sync.Mutex
	last map[string][]byte // the JSON last saved, by kind
	// gen is the Generation of the state last saved, by kind (only kinds
	// with a Generation, once saved or found unchanged).
	gen map[string]uint64
}

// NewKeeper keeps kinds in store; Restore puts them back in the order
// given (registrations before the agents' logins, which need them).
func NewKeeper(store *Store, log *slog.Logger, kinds ...Kept) *Keeper {
	return &Keeper{store: store, kinds: kinds, log: log, last: map[string][]byte{}, gen: map[string]uint64{}}
}

// Restore puts back what the previous run saved, kind by kind. What
// cannot be read or restored is logged, never fatal: the service starts
// as it would on an empty store.
func (k *Keeper) Restore(ctx context.Context) {
	for _, kd := range k.kinds {
		var saved json.RawMessage
		ok, err := k.store.LoadState(ctx, kd.Kind, &saved)
		if err != nil {
			k.log.Error("saved state not read", "kind", kd.Kind, "error", err)
			continue
		}
		if !ok && kd.LocalFallback != "" {
			if ok, err = k.store.LoadLocalState(kd.LocalFallback, &saved); err != nil {
				k.log.Error("saved state not read", "kind", kd.LocalFallback, "error", err)
				continue
			}
			if ok {
				k.log.Info("saved state restored from its earlier name", "kind", kd.Kind, "from", kd.LocalFallback)
			}
		}
		if !ok {
			continue
		}
		n, err := kd.Restore(saved)
		if err != nil {
			k.log.Warn("saved state partly restored", "kind", kd.Kind, "restored", n, "error", err)
		}
		k.log.Info("saved state restored", "kind", kd.Kind, "restored", n)
	}
}

// Save stores each kind whose snapshot changed since it was last saved.
// A kind not saved (store error) is tried again on the next Save. A kind
// whose Generation has not moved since it was saved is not snapshotted.
func (k *Keeper) Save(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, kd := range k.kinds {
		var gen uint64
		if kd.Generation != nil {
			// Read before the snapshot: a change made while it is taken
			// moves the generation past this one, so the next Save takes
			// another.
			gen = kd.Generation()
			if last, ok := k.gen[kd.Kind]; ok && last == gen {
				continue
			}
		}
		data, err := json.Marshal(kd.Snapshot())
		if err != nil {
			k.log.Error("state not saved", "kind", kd.Kind, "error", err)
			continue
		}
		if !bytes.Equal(data, k.last[kd.Kind]) {
			if err := k.store.SaveState(ctx, kd.Kind, json.RawMessage(data)); err != nil {
				k.log.Error("state not saved", "kind", kd.Kind, "error", err)
				continue
			}
			k.last[kd.Kind] = data
		}
		if kd.Generation != nil {
			k.gen[kd.Kind] = gen
		}
	}
}

// Run saves every interval until ctx ends.
func (k *Keeper) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.Save(ctx)
		}
	}
}
