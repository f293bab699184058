package recording

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoRecording is returned by Find when no recording of the call is known.
var ErrNoRecording = errors.New("recording: no recording of that call")

// ErrNotStored is returned by Find for a recording still in progress or
// waiting in the spool for its upload.
var ErrNotStored = errors.New("recording: not stored yet (in progress or waiting for upload)")

// maxRecent bounds how many call ids Find remembers without looking.
const maxRecent = 100_000

// remember notes the key of a call's recording; m.mu is held.
func (m *Manager) remember(callID, key string) {
	if _, ok := m.recent[callID]; !ok {
		m.recentOrder = append(m.recentOrder, callID)
	}
	m.recent[callID] = key
	if len(m.recentOrder) > maxRecent {
		drop := m.recentOrder[:len(m.recentOrder)-maxRecent]
		for _, id := range drop {
			delete(m.recent, id)
		}
		m.recentOrder = append([]string(nil), m.recentOrder[len(drop):]...)
	}
}

// Find returns the object key of the stored recording of a call. Calls
// recorded since this process started are known; for older ones it looks
// on each day from day back to days-1 days before it, which works when the
// key template uses only the date and the call id (the default does).
func (m *Manager) Find(ctx context.Context, callID string, day time.Time, days int) (string, error) {
	if callID == "" {
		return "", ErrNoRecording
	}
	m.mu.Lock()
	key, known := m.recent[callID]
	m.mu.Unlock()
	if known {
		if _, err := m.backend.Stat(ctx, key); err != nil {
			if errors.Is(err, ErrNotFound) {
				return "", fmt.Errorf("%w: %s", ErrNotStored, key)
			}
			return "", err
		}
		return key, nil
	}
	for d := 0; d < max(days, 1); d++ {
		k, err := m.keys.key(CallInfo{CallID: callID, Start: day.AddDate(0, 0, -d)})
		if err != nil {
			return "", err
		}
		if _, err := m.backend.Stat(ctx, k); err == nil {
			return k, nil
		} else if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	return "", ErrNoRecording
}
