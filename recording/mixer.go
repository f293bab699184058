package recording

import (
	"hotline/audio"
	"slices"
	"time"

	"github.com/zaf/g711"
)

// Side is one leg of a call.
type Side int

const (
	// Caller is the customer's leg, recorded on the left channel.
	Caller Side = iota
	// Agent is the agent's leg, recorded on the right channel.
	Agent
)

// String returns "caller" or "agent".
func (s Side) String() string {
	switch s {
	case Caller:
		return "caller"
	case Agent:
		return "agent"
	}
	return "side?"
}

// decoding is how the recorder decodes one payload type: not at all
// (telephone-event, comfort noise, anything unknown: its packets are
// ignored) or with a G.711 encoding.
type decoding uint8

const (
	notRecorded decoding = iota
	decodeULaw
	decodeALaw
)

// decodingOf is how packets of codec c are recorded.
func decodingOf(c audio.Codec) decoding {
	e, ok := c.Encoding()
	switch {
	case !ok:
		return notRecorded
	case e == audio.ALaw:
		return decodeALaw
	}
	return decodeULaw
}

// codecTable maps payload types to codecs for each side. It is replaced
// whole (copy on write), never modified in place.
type codecTable [Channels][128]decoding

func defaultCodecs() *codecTable {
	var t codecTable
	for s := range t {
		t[s][0] = decodeULaw
		t[s][8] = decodeALaw
	}
	return &t
}

const (
	// maxPayload is the largest RTP payload recorded whole: 80 ms of G.711.
	// Longer payloads are cut (the rest of the packet becomes silence).
	maxPayload = 640
	// reorderSlots is how many sequence numbers back a reordered packet
	// may be and still be put in place (duplicate detection window).
	reorderSlots = 128
	// maxLead is how far ahead of its arrival time a packet's RTP
	// timestamp may place it before the stream is re-anchored (a jump).
	maxLead = SampleRate // 1 s
)

// samplePos returns the frame index of instant t in a recording that
// starts at start (125 µs per frame at 8 kHz).
func samplePos(start, t time.Time) int64 { return framePos(t.Sub(start)) }

// framePos returns the frame index of the instant d after the recording's
// start: the frame that instant falls in (rounded down, also before 0).
func framePos(d time.Duration) int64 {
	const perFrame = time.Second / SampleRate
	if d < 0 {
		return int64((d - perFrame + 1) / perFrame)
	}
	return int64(d / perFrame)
}

// rtpPacket is one received RTP packet as handed from Packet to the
// mixer: the header fields the mixer needs and the payload (at most
// maxPayload bytes, pointing into the hand-off buffer).
type rtpPacket struct {
	arrival time.Duration // since the recording's start
	side    Side
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// legState follows one leg's RTP stream and maps its timestamps to frames.
type legState struct {
	started  bool
	ssrc     uint32
	prevSSRC uint32 // the stream replaced at the last SSRC change
	hasPrev  bool
	highSeq  uint16 // highest sequence number placed
	highTS   uint32 // its timestamp
	highPos  int64  // and the frame its first sample went to
	end      int64  // frame after the last sample written for this leg
	anchor   uint16 // sequence number of the packet that anchored the stream
	probe    uint16 // expected next seq of a stream restarting its numbering
	hasProbe bool
	seen     [reorderSlots]uint16 // seq numbers placed, indexed by seq % reorderSlots
	seenOK   [reorderSlots]bool
}

func (l *legState) mark(seq uint16) {
	l.seen[seq%reorderSlots] = seq
	l.seenOK[seq%reorderSlots] = true
}

func (l *legState) isSeen(seq uint16) bool {
	return l.seenOK[seq%reorderSlots] && l.seen[seq%reorderSlots] == seq
}

// frameSink receives committed interleaved stereo frames.
type frameSink interface {
	append(pcm []int16) error
	appendSilence(frames int64) error
}

// muter zeroes the frames that fall in pauses: frames holds interleaved
// stereo frames from frame index from on.
type muter interface {
	mute(from int64, frames []int16)
}

// mixer places both legs' samples on one timeline and hands finished
// frames to a sink. The timeline is frames since the recording's start;
// frame f holds the caller's sample at index 2f and the agent's at 2f+1.
//
// Each leg's RTP timestamps are mapped to frames from an anchor: the
// first packet of a stream goes where its arrival time says, later packets
// of the same stream where their timestamps say (so a lost packet leaves a
// gap of exactly its length, and no drift accumulates from arrival jitter).
// A new SSRC, a timestamp that goes backwards, a packet that the
// timestamps would put behind the jitter window (the sender paused and
// resumed its timestamps where it stopped) or more than a second ahead of
// its arrival re-anchors the stream to its arrival time (or right after
// what the leg already wrote, so nothing is overwritten). A sequence number
// far behind, twice in a row, is a sender restarting its numbering and
// re-anchors too. Sender clock drift is followed through these re-anchors
// only (a jump once the drift exceeds the window), not smoothed.
//
// Frames older than window behind the latest arrival are committed to the
// sink; a reordered packet arriving before that is put in place, later
// ones are dropped (Late).
type mixer struct {
	window    int64
	maxBuf    int64
	codecs    func() *codecTable
	out       frameSink
	pauses    muter
	st        *counters
	legs      [Channels]legState
	committed int64 // frames handed to out
	// buf[head:] holds frames [committed, committed+(len(buf)-head)/2).
	// Committed frames are dropped by moving head; the live frames are
	// moved to the front only when buf needs room.
	buf     []int16
	head    int
	maxWall int64 // latest arrival seen, as a frame index
}

// newMixer returns a mixer holding back window of audio. Its buffer is
// buf, of any length, when it is large enough (mixerBufferCap; its
// contents are never read: place clears what it extends the buffer
// over), else one allocated here.
func newMixer(window time.Duration, codecs func() *codecTable, out frameSink, pauses muter, st *counters, buf []int16) *mixer {
	w := windowFrames(window)
	if cap(buf) < mixerBufferCap(w) {
		buf = make([]int16, 0, mixerBufferCap(w))
	}
	return &mixer{
		window: w,
		maxBuf: w + maxLead + SampleRate,
		codecs: codecs,
		out:    out,
		pauses: pauses,
		st:     st,
		buf:    buf[:0],
	}
}

// windowFrames is a jitter window in frames.
func windowFrames(window time.Duration) int64 {
	return int64(window / (time.Second / SampleRate))
}

// mixerBufferCap is the initial size of the buffer of a mixer whose
// window is w frames: the window and room for a few packets (frames are
// moved to the front, compacted, every few packets, and the buffer grows
// if needed).
func mixerBufferCap(w int64) int { return int(2 * (w + w/2 + SampleRate/50)) }

// packet places one packet and commits what is now old enough.
func (m *mixer) packet(p *rtpPacket) error {
	if p.side != Caller && p.side != Agent || p.pt >= 128 {
		m.st.ignored.Add(1)
		return nil
	}
	codec := m.codecs()[p.side][p.pt]
	if codec == notRecorded || len(p.payload) == 0 {
		m.st.ignored.Add(1)
		return nil
	}
	wall := framePos(p.arrival)
	if wall > m.maxWall {
		m.maxWall = wall
	}
	// Frames before horizon are written once this packet is placed.
	horizon := max(m.committed, m.maxWall-m.window)
	n := int64(len(p.payload))
	l := &m.legs[p.side]
	var pos int64
	switch {
	case l.started && l.hasPrev && p.ssrc == l.prevSSRC && p.ssrc != l.ssrc:
		m.st.late.Add(1) // straggler of the stream that was replaced
		return nil
	case !l.started || p.ssrc != l.ssrc:
		pos = m.reanchor(l, p, wall, horizon)
	default:
		d := int16(p.seq - l.highSeq)
		if d > 0 {
			tsd := int32(p.ts - l.highTS)
			pos = l.highPos + int64(tsd)
			if tsd < 0 || pos < horizon || pos > wall+maxLead {
				pos = m.reanchor(l, p, wall, horizon)
			} else {
				l.highSeq, l.highTS, l.highPos = p.seq, p.ts, pos
				l.mark(p.seq)
				l.hasProbe = false
			}
		} else {
			if d <= -reorderSlots || int16(p.seq-l.anchor) < 0 {
				// Too old to be a reordered packet. Two in a row with
				// consecutive numbers: the sender restarted its numbering.
				if l.hasProbe && p.seq == l.probe {
					pos = m.reanchor(l, p, wall, horizon)
					break
				}
				l.probe, l.hasProbe = p.seq+1, true
				m.st.late.Add(1)
				return nil
			}
			if l.isSeen(p.seq) {
				m.st.duplicates.Add(1)
				return nil
			}
			back := int32(p.ts - l.highTS)
			if back > 0 {
				// Older number but newer timestamp: not a reordered
				// packet of this stream.
				m.st.late.Add(1)
				return nil
			}
			pos = l.highPos + int64(back)
			if pos+n <= horizon {
				m.st.late.Add(1)
				return nil
			}
			l.mark(p.seq)
		}
	}
	if pos+n > l.end {
		l.end = pos + n
	}
	if err := m.place(p.side, pos, codec, p.payload); err != nil {
		return err
	}
	return m.commit(m.maxWall - m.window)
}

// reanchor starts following p's stream from p's arrival time (or right
// after what this leg already wrote, when that is a little ahead).
func (m *mixer) reanchor(l *legState, p *rtpPacket, wall, horizon int64) int64 {
	pos := wall
	if l.started {
		m.st.reanchors.Add(1)
		if l.end > pos && l.end <= wall+maxLead {
			pos = l.end
		}
		if p.ssrc != l.ssrc {
			l.prevSSRC, l.hasPrev = l.ssrc, true
		}
	}
	if pos < horizon {
		pos = horizon
	}
	l.started = true
	l.ssrc = p.ssrc
	l.highSeq, l.highTS, l.highPos = p.seq, p.ts, pos
	l.anchor = p.seq
	l.hasProbe = false
	l.seenOK = [reorderSlots]bool{}
	l.mark(p.seq)
	return pos
}

// place decodes payload into side's channel from frame pos on.
func (m *mixer) place(side Side, pos int64, codec decoding, payload []byte) error {
	n := int64(len(payload))
	if pos+n <= m.committed {
		return nil
	}
	if pos < m.committed {
		payload = payload[m.committed-pos:]
		pos = m.committed
		n = int64(len(payload))
	}
	if over := pos + n - m.committed - m.maxBuf; over > 0 {
		// Far ahead of what is committed: write the oldest frames now
		// rather than hold an unbounded buffer.
		if err := m.commit(m.committed + over); err != nil {
			return err
		}
	}
	need := m.head + int(2*(pos+n-m.committed))
	if need > len(m.buf) {
		if need > cap(m.buf) && m.head > 0 {
			m.buf = m.buf[:copy(m.buf, m.buf[m.head:])]
			need -= m.head
			m.head = 0
		}
		if old := len(m.buf); old < need {
			m.buf = slices.Grow(m.buf, need-old)[:need]
			clear(m.buf[old:])
		}
	}
	i := int64(m.head) + 2*(pos-m.committed) + int64(side)
	if codec == decodeALaw {
		for _, b := range payload {
			m.buf[i] = g711.DecodeAlawFrame(b)
			i += 2
		}
	} else {
		for _, b := range payload {
			m.buf[i] = g711.DecodeUlawFrame(b)
			i += 2
		}
	}
	return nil
}

// commit hands frames [committed, upTo) to the sink: what the legs wrote,
// silence where they wrote nothing, silence during pauses.
func (m *mixer) commit(upTo int64) error {
	if upTo <= m.committed {
		return nil
	}
	have := int64((len(m.buf) - m.head) / 2)
	take := min(upTo-m.committed, have)
	if take > 0 {
		c := m.committed
		frames := m.buf[m.head : m.head+int(2*take)]
		m.pauses.mute(c, frames)
		if err := m.out.append(frames); err != nil {
			return err
		}
		m.head += int(2 * take)
		if m.head == len(m.buf) {
			m.buf, m.head = m.buf[:0], 0
		}
		m.committed += take
	}
	if m.committed < upTo {
		if err := m.out.appendSilence(upTo - m.committed); err != nil {
			return err
		}
		m.committed = upTo
	}
	return nil
}
