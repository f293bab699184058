package krelay

// Counters of the program as a whole (defined on every system, so that
// callers can name them where the relay itself does not build).
type Counters struct {
	// Relayed is the packets relayed in the kernel.
	Relayed uint64
	// RingFull is the packets of those relayed without a copy for user
	// space because the ring was full (missed by the legs' recorders).
	RingFull uint64
	// TooLong is the packets passed to the socket as longer than DataMax.
	TooLong uint64
}
