//go:build !linux

package sip

// shedPublished: there is no door process to publish to.
func (l *doorLink) shedPublished() bool { return false }
