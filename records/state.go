package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Service state that must survive a restart (registrations, agent
// states) is kept as one JSON document per kind: always in a local file,
// <records.state_dir>/<kind>.json, written atomically, and with the
// postgres backend in the state table too. LoadState takes the newer of
// the two, so a document saved while PostgreSQL was down is not lost, and
// a node started on an empty disk finds PostgreSQL's.

// A kind is a name, optionally with "@" and the node it belongs to (a
// cluster's nodes share the database, and each keeps its own phones'
// bindings): "registrations", "registrations@node-a".
var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}(@[A-Za-z0-9._-]{1,63})?$`)

// NodeKind returns kind as node's own (kind@node), or kind when node is
// empty (a node alone).
func NodeKind(kind, node string) string {
	if node == "" {
		return kind
	}
	return kind + "@" + node
}

// stateDoc is a state document as stored.
type stateDoc struct {
	UpdatedAt time.Time       `json:"updated_at"`
	Value     json.RawMessage `json:"value"`
}

// stateBackend is implemented by backends that keep state themselves.
type stateBackend interface {
	saveState(ctx context.Context, kind string, d stateDoc) error
	loadState(ctx context.Context, kind string) (stateDoc, bool, error)
}

// SaveState stores v (JSON-encoded) as the state of kind.
func (s *Store) SaveState(ctx context.Context, kind string, v any) error {
	if !kindRE.MatchString(kind) {
		return fmt.Errorf("records: state kind %q", kind)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("records: state %s: %w", kind, err)
	}
	d := stateDoc{UpdatedAt: time.Now().UTC().Truncate(time.Microsecond), Value: raw}
	data, _ := json.Marshal(d)
	if err := writeFileAtomic(filepath.Join(s.cfg.StateDir, kind+".json"), data); err != nil {
		return fmt.Errorf("records: state %s: %w", kind, err)
	}
	if sb, ok := s.b.(stateBackend); ok {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		err := sb.saveState(ctx, kind, d)
		s.mu.Lock()
		if err != nil {
			// The local copy has it; the store's writer saves it to the
			// database once it is back (retryState).
			s.stateFails++
			if s.stateBehind == nil {
				s.stateBehind = map[string]uint64{}
			}
			s.stateBehind[kind] = s.stateFails
		} else {
			delete(s.stateBehind, kind)
		}
		s.mu.Unlock()
		if err != nil {
			s.log.Debug("state not saved to the database (kept locally, tried again)", "kind", kind, "error", err)
		}
	}
	return nil
}

// retryState saves to the database the state documents it missed, from
// their local copies, so that a node started later on an empty disk finds
// them (the state may not change again for a long time: a restore must
// not take a copy older than the last save). The database keeps the newer
// of its copy and this one.
func (s *Store) retryState() {
	sb, ok := s.b.(stateBackend)
	if !ok {
		return
	}
	s.mu.Lock()
	behind := maps.Clone(s.stateBehind)
	s.mu.Unlock()
	for _, kind := range slices.Sorted(maps.Keys(behind)) {
		d, ok, err := s.localDoc(kind)
		if err == nil && !ok {
			err = os.ErrNotExist
		}
		if err != nil {
			// Nothing to retry from (the next save writes both copies).
			s.log.Warn("state not saved to the database: its local copy is unreadable", "kind", kind, "error", err)
			s.mu.Lock()
			if s.stateBehind[kind] == behind[kind] {
				delete(s.stateBehind, kind)
			}
			s.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = sb.saveState(ctx, kind, d)
		cancel()
		if err != nil {
			s.log.Debug("state still not saved to the database", "kind", kind, "error", err)
			return // the database is still away: the next round tries again
		}
		s.mu.Lock()
		if s.stateBehind[kind] == behind[kind] { // no newer failure meanwhile
			delete(s.stateBehind, kind)
		}
		s.mu.Unlock()
		s.log.Info("state saved to the database after an outage", "kind", kind)
	}
}

// LoadLocalState decodes the state of kind saved in this store's own
// state directory into v, never the database's; false when there is
// none.
func (s *Store) LoadLocalState(kind string, v any) (bool, error) {
	if !kindRE.MatchString(kind) {
		return false, fmt.Errorf("records: state kind %q", kind)
	}
	d, ok, err := s.localDoc(kind)
	if !ok || err != nil {
		return false, err
	}
	if err := json.Unmarshal(d.Value, v); err != nil {
		return false, fmt.Errorf("records: state %s: %w", kind, err)
	}
	return true, nil
}

// localDoc reads kind's document from the state directory; false when
// there is none.
func (s *Store) localDoc(kind string) (stateDoc, bool, error) {
	var d stateDoc
	data, err := os.ReadFile(filepath.Join(s.cfg.StateDir, kind+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return d, false, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &d)
	}
	if err != nil {
		return d, false, fmt.Errorf("records: state %s: %w", kind, err)
	}
	return d, true, nil
}

// LoadState decodes the newest saved state of kind into v; false when
// none was ever saved.
func (s *Store) LoadState(ctx context.Context, kind string, v any) (bool, error) {
	if !kindRE.MatchString(kind) {
		return false, fmt.Errorf("records: state kind %q", kind)
	}
	best, found, err := s.localDoc(kind)
	if err != nil {
		return false, err
	}
	if sb, ok := s.b.(stateBackend); ok {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		d, ok, err := sb.loadState(ctx, kind)
		if err != nil {
			s.log.Warn("state not read from the database; using the local copy", "kind", kind, "error", err)
		} else if ok && (!found || d.UpdatedAt.After(best.UpdatedAt)) {
			best, found = d, true
		}
	}
	if !found {
		return false, nil
	}
	if err := json.Unmarshal(best.Value, v); err != nil {
		return false, fmt.Errorf("records: state %s: %w", kind, err)
	}
	return true, nil
}

func (b *pgBackend) saveState(ctx context.Context, kind string, d stateDoc) error {
	if err := b.ensureSchema(ctx); err != nil {
		return err
	}
	_, err := b.pool.Exec(ctx, `INSERT INTO state (kind, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (kind) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
		WHERE state.updated_at <= excluded.updated_at`, kind, string(d.Value), d.UpdatedAt)
	return err
}

func (b *pgBackend) loadState(ctx context.Context, kind string) (stateDoc, bool, error) {
	if err := b.ensureSchema(ctx); err != nil {
		return stateDoc{}, false, err
	}
	var d stateDoc
	var raw []byte
	err := b.pool.QueryRow(ctx, "SELECT value, updated_at FROM state WHERE kind = $1", kind).Scan(&raw, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return stateDoc{}, false, nil
	}
	d.Value = raw
	return d, err == nil, err
}

// writeFileAtomic replaces path with data: a crash leaves the old file or
// the new one, never a torn one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	syncDir(dir)
	return nil
}
