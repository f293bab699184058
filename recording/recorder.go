package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFinished is returned by Recorder methods called after Finish.
var ErrFinished = errors.New("recording: recorder already finished")

// CallInfo describes the call being recorded. It goes into the sidecar
// call record, the object's user metadata and the object key.
type CallInfo struct {
	// CallID identifies the call (required); it is part of the default key.
	CallID string
	// Caller is the caller's number or URI.
	Caller string
	// Agent is the agent's username.
	Agent string
	// Queue is the hotline or queue the call came through.
	Queue string
	// Segment is the caller's customer segment (loyal, at_risk, ...). It
	// is also usable as {{.Segment}} in the key template.
	Segment string
	// Reason says why the call is recorded (policy, on demand, ...).
	Reason string
	// Start is the instant frame 0 of the recording stands for; zero means now.
	Start time.Time
	// Extra is copied into the call record as is.
	Extra map[string]string
}

// Stats counts what happened to a recorder's packets.
type Stats struct {
	// Received is the number of packets accepted from each side
	// (index Caller, Agent).
	Received [Channels]uint64 `json:"received"`
	// Dropped counts packets dropped because the hand-off buffer to the
	// writer was full; their audio is recorded as silence.
	Dropped uint64 `json:"dropped"`
	// Late counts packets that arrived after their place in the file was
	// written (beyond the jitter window) and were left out.
	Late uint64 `json:"late"`
	// Duplicates counts packets received twice.
	Duplicates uint64 `json:"duplicates"`
	// Malformed counts packets that are not RTP (they are not in Received).
	Malformed uint64 `json:"malformed"`
	// Ignored counts packets of payload types that are not recorded
	// (telephone-event, comfort noise, unknown) or without payload.
	Ignored uint64 `json:"ignored"`
	// Reanchors counts re-alignments of a leg to arrival time (SSRC
	// change, timestamp jump).
	Reanchors uint64 `json:"reanchors"`
}

type counters struct {
	received                                      [Channels]atomic.Uint64
	dropped, late, duplicates, ignored, reanchors atomic.Uint64
	malformed                                     atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:   [Channels]uint64{c.received[0].Load(), c.received[1].Load()},
		Dropped:    c.dropped.Load(),
		Late:       c.late.Load(),
		Duplicates: c.duplicates.Load(),
		Malformed:  c.malformed.Load(),
		Ignored:    c.ignored.Load(),
		Reanchors:  c.reanchors.Load(),
	}
}

// PauseInterval is one pause of the recording (silence in the file).
type PauseInterval struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

type pauseSpan struct {
	from, to int64 // frames; to < 0 while the pause lasts
}

// Recorder records one call: both legs into one stereo WAV in the spool
// directory. Get one from Manager.Begin, feed it every RTP packet with
// Packet, and call Finish when the call (or segment) ends.
//
// Packet may be called from any goroutine (typically each leg's read
// loop); the other methods from any goroutine too.
type Recorder struct {
	info   CallInfo
	key    string
	base   string // spool path without extension
	format Format
	log    *slog.Logger
	done   func(*Recorder)

	ch       chan rtpPacket
	stop     chan struct{}
	exited   chan struct{}
	finished atomic.Bool
	codecs   atomic.Pointer[codecTable]
	st       counters

	mu     sync.Mutex // guards the fields below
	spans  []pauseSpan
	pauses []PauseInterval
	csat   *int
	extra  map[string]string

	// Owned by the writer goroutine until it exits, then by Finish.
	wav  *wavWriter
	mix  *mixer
	werr error
}

// Key returns the object key the recording will be stored under.
func (r *Recorder) Key() string { return r.key }

// Path returns the recording's file in the spool directory (gone once it
// is uploaded).
func (r *Recorder) Path() string { return r.base + ".wav" }

// Stats returns the recorder's packet counters.
func (r *Recorder) Stats() Stats { return r.st.snapshot() }

// SetFormat says which codec side's packets of payload type pt carry
// (payload types 0 = PCMU and 8 = PCMA are preset; pass CodecNone to stop
// recording a payload type). Use it for dynamic payload types or when a
// re-INVITE changes the mapping.
func (r *Recorder) SetFormat(side Side, pt uint8, codec Codec) {
	if side != Caller && side != Agent || pt >= 128 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := *r.codecs.Load()
	t[side][pt] = codec
	r.codecs.Store(&t)
}

// Packet records one RTP packet (header included) received on side at
// arrival. It never blocks and does not allocate: the packet is copied into
// a bounded hand-off queue that the recorder's writer goroutine drains; if
// the queue is full the packet is counted in Stats.Dropped and its audio
// is recorded as silence. pkt is not retained. Calls after Finish are
// ignored.
func (r *Recorder) Packet(side Side, pkt []byte, arrival time.Time) {
	if r.finished.Load() {
		return
	}
	if (side != Caller && side != Agent) || len(pkt) < 12 || pkt[0]>>6 != 2 {
		r.st.malformed.Add(1)
		return
	}
	off := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // header extension
		if len(pkt) < off+4 {
			r.st.malformed.Add(1)
			return
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 && end > 0 { // padding
		end -= int(pkt[end-1])
	}
	if off > end {
		r.st.malformed.Add(1)
		return
	}
	var p rtpPacket
	p.arrival = arrival
	p.side = side
	p.pt = pkt[1] & 0x7f
	p.seq = binary.BigEndian.Uint16(pkt[2:])
	p.ts = binary.BigEndian.Uint32(pkt[4:])
	p.ssrc = binary.BigEndian.Uint32(pkt[8:])
	p.n = uint16(copy(p.payload[:], pkt[off:end]))
	select {
	case r.ch <- p:
		r.st.received[side].Add(1)
	default:
		r.st.dropped.Add(1)
	}
}

// Pause stops recording audio from at (which should be about now: audio
// older than the jitter window is already written) until Resume; the file
// gets silence for that time and the pause goes into the call record.
// Pausing a paused recording does nothing.
func (r *Recorder) Pause(at time.Time, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return ErrFinished
	}
	if n := len(r.spans); n > 0 && r.spans[n-1].to < 0 {
		return nil
	}
	r.spans = append(r.spans, pauseSpan{from: max(samplePos(r.info.Start, at), 0), to: -1})
	r.pauses = append(r.pauses, PauseInterval{Start: at.UTC(), Reason: reason})
	return nil
}

// Resume records audio again from at. Resuming a recording that is not
// paused does nothing.
func (r *Recorder) Resume(at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return ErrFinished
	}
	r.endPause(at)
	return nil
}

// endPause closes an open pause at at. r.mu must be held.
func (r *Recorder) endPause(at time.Time) {
	n := len(r.spans)
	if n == 0 || r.spans[n-1].to >= 0 {
		return
	}
	to := max(samplePos(r.info.Start, at), r.spans[n-1].from)
	r.spans[n-1].to = to
	r.pauses[n-1].End = at.UTC()
}

// mute implements muter for the mixer.
func (r *Recorder) mute(from, to int64, zero func(a, b int64)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.spans {
		a, b := max(from, s.from), to
		if s.to >= 0 {
			b = min(to, s.to)
		}
		if a < b {
			zero(a, b)
		}
	}
}

// SetCSAT records the caller's satisfaction score (from a post-call
// survey) in the call record. It must be called before Finish.
func (r *Recorder) SetCSAT(score int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return ErrFinished
	}
	r.csat = &score
	return nil
}

// SetExtra adds or replaces one entry of the call record's extras.
func (r *Recorder) SetExtra(key, value string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished.Load() {
		return ErrFinished
	}
	if r.extra == nil {
		r.extra = map[string]string{}
	}
	r.extra[key] = value
	return nil
}

// run is the writer goroutine: it places packets and writes the file.
func (r *Recorder) run() {
	defer close(r.exited)
	defer func() {
		// Packets come from the network: whatever they hold must not
		// take the whole service down. The call goes on unrecorded.
		if p := recover(); p != nil {
			r.werr = fmt.Errorf("recording: internal error: %v", p)
			r.log.Error("recording stopped by an internal error", "call_id", r.info.CallID, "panic", p)
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	handle := func(p *rtpPacket) {
		if r.werr != nil {
			return
		}
		if err := r.mix.packet(p); err != nil {
			r.werr = err
			r.log.Error("recording write failed; the rest of the call is not recorded", "call_id", r.info.CallID, "err", err)
		}
	}
	for {
		select {
		case p := <-r.ch:
			handle(&p)
		case <-tick.C:
			if r.werr == nil {
				if err := r.wav.flush(); err != nil {
					r.werr = err
					r.log.Error("recording write failed; the rest of the call is not recorded", "call_id", r.info.CallID, "err", err)
				}
			}
		case <-r.stop:
			for {
				select {
				case p := <-r.ch:
					handle(&p)
				default:
					return
				}
			}
		}
	}
}

// Finish ends the recording at end: the file is completed to exactly
// end-Start of audio (silence where nothing was received), synced and
// closed, the call record is written beside it, and both are queued for
// upload. Whatever the error, what was recorded stays in the spool and is
// uploaded. A second call returns ErrFinished.
func (r *Recorder) Finish(end time.Time) error {
	r.mu.Lock()
	if r.finished.Load() {
		r.mu.Unlock()
		return ErrFinished
	}
	r.finished.Store(true)
	r.endPause(end)
	r.mu.Unlock()

	close(r.stop)
	<-r.exited

	endPos := max(samplePos(r.info.Start, end), 0)
	var errs []error
	if r.werr != nil {
		errs = append(errs, r.werr)
	} else if err := r.mix.commit(endPos); err != nil {
		errs = append(errs, err)
	}
	frames, err := r.wav.close(endPos)
	if err != nil {
		errs = append(errs, err)
	}
	rec := r.record()
	rec.End = end.UTC()
	rec.DurationSeconds = float64(frames) / SampleRate
	rec.Frames = frames
	if err := writeRecord(r.base+".json", rec); err != nil {
		errs = append(errs, err)
	}
	r.done(r)
	if len(errs) > 0 {
		return fmt.Errorf("recording %s: %w", r.info.CallID, errors.Join(errs...))
	}
	return nil
}

// record returns the call record as known now (no end yet).
func (r *Recorder) record() CallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st.snapshot()
	rec := CallRecord{
		CallID:     r.info.CallID,
		Caller:     r.info.Caller,
		Agent:      r.info.Agent,
		Queue:      r.info.Queue,
		Segment:    r.info.Segment,
		Reason:     r.info.Reason,
		Start:      r.info.Start.UTC(),
		Pauses:     append([]PauseInterval(nil), r.pauses...),
		Key:        r.key,
		Format:     r.format,
		SampleRate: SampleRate,
		Channels:   []string{Caller.String(), Agent.String()},
		Stats:      &st,
	}
	if r.csat != nil {
		v := *r.csat
		rec.CSAT = &v
	}
	if len(r.info.Extra) > 0 || len(r.extra) > 0 {
		rec.Extra = make(map[string]string, len(r.info.Extra)+len(r.extra))
		for k, v := range r.info.Extra {
			rec.Extra[k] = v
		}
		for k, v := range r.extra {
			rec.Extra[k] = v
		}
	}
	return rec
}
