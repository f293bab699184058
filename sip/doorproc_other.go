//go:build !linux

package sip

import (
	"errors"
	"os/exec"
	"sync/atomic"

	"hotline/sip/overload"
)

// The door process needs Linux (doorproc_linux.go); elsewhere Hotline's
// own reader is the door.

// IsDoorProcess reports false: there is no door process here.
func IsDoorProcess() bool { return false }

// RunDoorProcess is not to be called here; it returns 2.
func RunDoorProcess() int { return 2 }

type doorLink struct {
	cmd     *exec.Cmd
	closing atomic.Bool
}

func (s *Server) startDoorProcess(*shedConn) (*doorLink, error) {
	return nil, errors.New("the door process needs Linux")
}

func (l *doorLink) read([]byte) (int, *doorHeader, error) {
	return 0, nil, errors.New("no door process")
}
func (l *doorLink) publish(*overload.Detector, overload.State) {}
func (l *doorLink) publishRates(*overload.Detector)            {}
func (l *doorLink) publishSetups(int64)                        {}
func (l *doorLink) markRead()                                  {}
func (l *doorLink) close()                                     {}
func (l *doorLink) abandon()                                   {}
