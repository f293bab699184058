//go:build !linux

package overload

import "syscall"

// receiveBacklog is not measured outside Linux.
func receiveBacklog(syscall.Conn) float64 { return 0 }
