// Package media is Hotline's anchored-media layer. Every call leg gets its
// own RTP endpoint (an even UDP port for RTP, the next odd one for RTCP) on
// Hotline. Packets received on one leg are relayed to the leg it is bridged
// with (payload type rewritten, PCMU/PCMA transcoded when the two sides
// differ), generated audio (hold music, ringback) is played into a leg that
// is not bridged, and RFC 4733 telephone-events are decoded on every leg.
// A Monitor joins a third leg (a supervisor) to a bridged pair: listen,
// whisper or barge, mixed in linear PCM while the pair's relay stays the
// fast path (monitor.go).
//
// Remote endpoints are latched symmetrically: the first valid RTP packet
// fixes the address a leg accepts packets from and sends packets to. With
// the kernel relay, a bridged leg's packets from its SDP's address are
// relayed from the first one, and they latch it there (kernel_linux.go).
//
// On Linux a leg reads with recvmmsg whatever its socket holds (never
// waiting for more), relays a run of packets for one destination with
// sendmmsg, and hands a PacketTap (the call recorder) the packets of one
// read in one call (batch_linux.go; -tags nommsg builds the one-packet
// loop for comparison).
package media
