//go:build !unix

package media

// drainRTP would hand the tap what the leg's RTP socket still holds as
// the leg ends; without non-blocking reads of the socket (MSG_DONTWAIT)
// the datagrams are left to the socket's close.
func (l *Leg) drainRTP() {}
