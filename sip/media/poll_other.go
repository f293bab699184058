//go:build !linux || nommsg

package media

import "errors"

// readers: without recvmmsg every leg reads its socket in a goroutine of
// its own (NewLeg leaves raw nil, so Start never asks for a poller).
type readers struct{}

type poller struct{}

func (readers) poller(int) *poller { return nil }

func (*poller) add(*Leg) error { return errors.New("media: no shared RTP readers on this system") }

func (*poller) remove(*Leg) {}
