package recording

import "sync"

// recBuffers are one recording's large buffers: its WAV writer's (in
// which createWAV also assembles the WAV's first 4 KiB, and Finish the
// final record chunk), its mixer's and its two hand-off buffers
// (Recorder.in and spare, which grow to the size of a batch of packets).
// A manager keeps those of finished recordings for the next ones
// (bufferPool): at a few hundred recordings a second, allocating (and
// zeroing) them anew was a third of the bytes Hotline allocated.
//
// A buffer's contents are never carried over: whoever takes one uses it
// from length 0 and writes every byte it later reads (createWAV,
// wavWriter.fill and writeRecord, mixer.place, appendPacket).
type recBuffers struct {
	wav       []byte
	mix       []int16
	in, spare []byte
}

// bufferPool keeps the buffers of finished recordings for new ones. It
// holds at most maxFree sets (more are left to the garbage collector), so
// what it keeps after a peak of calls is bounded; get hands out an empty
// set (each user allocates what it needs) when it has none.
//
// A set goes back (put) only once nothing can touch its buffers any more:
// see Recorder.Finish.
type bufferPool struct {
	wavCap int // the largest WAV buffer kept (what createWAV allocates)
	mixCap int // the largest mixer buffer kept
	inCap  int // the largest hand-off buffer kept

	mu   sync.Mutex
	free []*recBuffers

	// released, if not nil, is called with every set put back, before
	// it can be taken again (tests: fill it with garbage, as the next
	// recording would, to catch a use after release).
	released func(*recBuffers)
}

// maxFree is the most buffer sets a manager keeps: about 3 MB for the
// default format and jitter window. Recordings begin and finish at about
// the same rate, so the sets of those finishing serve those beginning.
const maxFree = 64

// newBufferPool returns a pool for recordings in format f with a mixer
// window of window frames.
func newBufferPool(f Format, window int64) *bufferPool {
	return &bufferPool{
		wavCap: wavBufferCap(f),
		// The mixer's buffer may grow past its initial size (packets far
		// ahead); a few times that is still worth keeping.
		mixCap: 4 * mixerBufferCap(window),
		// A batch of 50 ms of a call's packets is 1-2 KiB; a writer that
		// fell behind grows it to up to QueuePackets packets.
		inCap: 16 << 10,
	}
}

// get returns a set of buffers, of length 0, for a new recording. Its
// slices may be nil or too small: their users check.
func (p *bufferPool) get() *recBuffers {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.free)
	if n == 0 {
		return &recBuffers{}
	}
	b := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	b.wav, b.mix, b.in, b.spare = b.wav[:0], b.mix[:0], b.in[:0], b.spare[:0]
	return b
}

// put gives back b, whose buffers no one uses any more. Buffers larger
// than the pool keeps are dropped.
func (p *bufferPool) put(b *recBuffers) {
	if cap(b.wav) > p.wavCap {
		b.wav = nil
	}
	if cap(b.mix) > p.mixCap {
		b.mix = nil
	}
	if cap(b.in) > p.inCap {
		b.in = nil
	}
	if cap(b.spare) > p.inCap {
		b.spare = nil
	}
	if b.wav == nil && b.mix == nil && b.in == nil && b.spare == nil {
		return
	}
	if p.released != nil {
		p.released(b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFree {
		p.free = append(p.free, b)
	}
}
