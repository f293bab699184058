//go:build !linux

package media

import (
	"errors"
	"log/slog"
	"time"

	"hotline/sip/media/krelay"
)

// kernel is the in-kernel relay, which only Linux has.
type kernel struct{}

type kernelState struct{}

// StartKernel fails: the kernel relay needs Linux.
func (p *Ports) StartKernel(*Config, *slog.Logger) error {
	return errors.New("media: the kernel relay needs Linux")
}

// KernelStats: there is no kernel relay.
func (p *Ports) KernelStats() (krelay.Counters, bool) { return krelay.Counters{}, false }

// takeLag: no ring reader without the kernel relay.
func (k *kernel) takeLag() (time.Duration, int64) { return 0, 0 }

// Close does nothing without the kernel relay.
func (p *Ports) Close() error { return nil }

func (l *Leg) syncKernel()          {}
func (l *Leg) registerKernel()      {}
func (l *Leg) relayedFromSDP() bool { return false }
func (l *Leg) endKernel() bool      { return false }
