package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hotline/audio"
	"log/slog"
	"slices"
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
	// Start is the instant frame 0 of the recording stands for, on the
	// clock of the arrivals given to Packet; zero means now (see
	// Manager.Begin).
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
	// writer was full, or relayed without a copy for the recorder
	// (Missed); their audio is recorded as silence.
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

// counters are the packet counts kept by the mixer (the hand-off keeps
// Received and Dropped under the recorder's inMu).
type counters struct {
	late, duplicates, ignored, reanchors atomic.Uint64
	malformed                            atomic.Uint64
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
//
// Packets are handed off in batches: Packet appends the packet's header
// fields and payload to a buffer under a short lock and returns; the
// manager's mixing goroutine takes each recorder's buffer every
// mixInterval and places the packets in the file. Nothing wakes per
// packet.
type Recorder struct {
	// What Packets reads and writes for every packet, together at the
	// start (two cache lines): with thousands of calls a recorder is
	// out of the cache at each packet, and every line is a miss.
	inMu     sync.Mutex  // guards the hand-off below
	finished atomic.Bool // read without inMu
	inClosed bool        // Finish took the last batch: later packets are ignored
	inN      int         // packets in in
	maxIn    int         // bound of inN (Config.QueuePackets)
	in       []byte      // packed packets (see appendPacket) waiting for the mixer
	// origin is frame 0 on the real clock: packets' arrivals, pauses and
	// the end are placed relative to it. info.Start is when the call
	// record says the recording started (the manager's clock); dated
	// turns an instant on the real clock into one on that clock.
	origin   time.Time
	received [Channels]uint64 // guarded by inMu
	nDropped uint64           // guarded by inMu
	dropSeen uint64           // guarded by inMu: the drops' period this recording was last counted in (dropTally.add)

	info   CallInfo
	key    string
	base   string // spool path without extension
	format Format
	log    *slog.Logger
	done   func(*Recorder)
	drops  *dropTally // the manager's: packets dropped by all its recorders
	// spoolSync syncs the spool directory (the manager's, shared by all
	// its recorders).
	spoolSync *dirSync
	// pool is the manager's, to which Finish gives the recording's
	// buffers back.
	pool *bufferPool
	// bufs is the set of buffers the recording took from pool, to give
	// them back in: Begin takes the hand-off buffers (in, spare) from
	// it, create the WAV's and the mixer's, Finish puts them back (nil
	// once it has). A recording whose files could not be created never
	// gives them back: they are left to the garbage collector.
	bufs *recBuffers
	// jsonFile: Finish writes the call record beside the WAV as well (the
	// file backend links it into the store); without it the record is
	// uploaded from memory or from the WAV's chunk.
	jsonFile bool
	// deferSync: Finish leaves syncing the spool files to the uploader,
	// which syncs every finished recording of a batch with one syncfs
	// before it links them into the file store (unsynced tells it).
	deferSync bool
	// final is the call record Finish wrote to the spool, for the
	// uploader (nil if Finish failed: it reads the spool file instead);
	// durably unless unsynced.
	final    *CallRecord
	unsynced bool
	mixIdx   int // index in the manager's mixers; guarded by the manager's mu
	// ready is closed once Manager.create has created the spool files
	// (wav and mix are set) or failed to (openErr).
	ready   chan struct{}
	openErr error

	paused atomic.Bool // some pause was ever set: the mixer must look at spans
	codecs atomic.Pointer[codecTable]
	st     counters

	mu sync.Mutex // guards the fields below
	// recw is the spool WAV, whose record chunk saveLocked rewrites (nil
	// until Manager.create made it). sideRecord: the record did not fit
	// in the chunk and is kept in the .json beside the WAV instead.
	recw       *wavWriter
	sideRecord bool
	spans      []pauseSpan
	pauses     []PauseInterval
	csat       *int
	extra      map[string]string

	// Writer state, guarded by wmu (held by the mixing goroutine while it
	// works on this recorder, and by Finish).
	wmu       sync.Mutex
	spare     []byte // the previous batch's buffer, reused
	wav       *wavWriter
	mix       *mixer
	werr      error
	lastFlush time.Time
	wclosed   bool
}

// Failed tells whether the recording's spool files could not be created:
// nothing is recorded and Finish returns why. It is false while they are
// being created, and final once Finish has returned.
func (r *Recorder) Failed() bool {
	select {
	case <-r.ready:
		return r.openErr != nil
	default:
		return false
	}
}

// Key returns the object key the recording will be stored under.
func (r *Recorder) Key() string { return r.key }

// Path returns the recording's file in the spool directory (gone once it
// is uploaded).
func (r *Recorder) Path() string { return r.base + ".wav" }

// Stats returns the recorder's packet counters.
func (r *Recorder) Stats() Stats {
	r.inMu.Lock()
	st := Stats{Received: r.received, Dropped: r.nDropped}
	r.inMu.Unlock()
	st.Late = r.st.late.Load()
	st.Duplicates = r.st.duplicates.Load()
	st.Malformed = r.st.malformed.Load()
	st.Ignored = r.st.ignored.Load()
	st.Reanchors = r.st.reanchors.Load()
	return st
}

// SetFormat says which codec side's packets of payload type c.PT carry
// (payload types 0 = PCMU and 8 = PCMA are preset; a codec that is not
// G.711, e.g. audio.Codec{PT: pt}, stops recording a payload type). Use it
// for dynamic payload types or when a re-INVITE changes the mapping.
func (r *Recorder) SetFormat(side Side, c audio.Codec) {
	pt := c.PT
	if side != Caller && side != Agent || pt >= 128 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := *r.codecs.Load()
	t[side][pt] = decodingOf(c)
	r.codecs.Store(&t)
}

// Packet records one RTP packet (header included) received on side at
// arrival. It never blocks on the writer and does not allocate once the
// hand-off buffer has grown to its working size: the header fields and
// the payload are copied into the buffer, which the manager's mixing
// goroutine takes every mixInterval. If the writer is so far behind that
// QueuePackets packets wait, the packet is dropped, counted in
// Stats.Dropped (and in the manager's Backlog.DroppedPackets), logged with
// the other recordings' drops (once a second at most; each recording's
// first drop at debug level, its total when it finishes), and its audio is
// recorded as silence. pkt is not retained. Calls after
// Finish are ignored.
func (r *Recorder) Packet(side Side, pkt []byte, arrival time.Time) {
	r.Packets(side, [][]byte{pkt}, arrival)
}

// Packets is Packet for several packets received on side at (about) the
// same arrival, e.g. what one read of a leg's socket returned: they are
// handed off in order under one lock. pkts and the packets are not
// retained.
func (r *Recorder) Packets(side Side, pkts [][]byte, arrival time.Time) {
	if r.finished.Load() || len(pkts) == 0 {
		return
	}
	if side != Caller && side != Agent {
		r.st.malformed.Add(uint64(len(pkts)))
		return
	}
	d := arrival.Sub(r.origin)
	var dropped uint64
	r.inMu.Lock()
	if r.inClosed {
		r.inMu.Unlock()
		return
	}
	for _, pkt := range pkts {
		off, end, ok := payloadOf(pkt)
		if !ok {
			r.st.malformed.Add(1)
			continue
		}
		if r.inN >= r.maxIn {
			dropped++
			continue
		}
		r.in = appendPacket(r.in, side, pkt, off, end, d)
		r.inN++
		r.received[side]++
	}
	if dropped == 0 {
		r.inMu.Unlock()
		return
	}
	first, now, due := r.countDropped(dropHandoff, dropped)
	r.inMu.Unlock()
	if first {
		r.log.Debug("recording hand-off full: audio dropped, recorded as silence",
			"call_id", r.info.CallID, "dropped_packets", dropped)
	}
	if due {
		r.drops.tell(r.log, now, false)
	}
}

// countDropped adds n packets of kind to those dropped (r.inMu held),
// and to the manager's tally, which logs them with the other
// recordings' once a second at most. It tells whether they are the
// recording's first, and whether the tally's warning is due (to tell
// once r.inMu is released).
func (r *Recorder) countDropped(kind dropKind, n uint64) (first bool, now time.Time, due bool) {
	first = r.nDropped == 0
	r.nDropped += n
	now = time.Now()
	due = r.drops.add(kind, n, &r.dropSeen, r.info.CallID, now)
	return first, now, due
}

// Missed counts n packets of side that the media relay relayed without a
// copy for the recorder (the kernel relay's ring to user space was full:
// its reader held up) as dropped, as the hand-off's drops are (Stats.Dropped,
// the manager's DroppedPackets): their audio is silence in the recording.
// Calls after Finish are ignored.
func (r *Recorder) Missed(side Side, n uint64) {
	if n == 0 || r.finished.Load() || (side != Caller && side != Agent) {
		return
	}
	r.inMu.Lock()
	if r.inClosed {
		r.inMu.Unlock()
		return
	}
	first, now, due := r.countDropped(dropRing, n)
	r.inMu.Unlock()
	if first {
		r.log.Debug("kernel relay's ring full: audio relayed without the recorder's copy, recorded as silence",
			"call_id", r.info.CallID, "side", side.String(), "dropped_packets", n)
	}
	if due {
		r.drops.tell(r.log, now, false)
	}
}

// payloadOf checks that pkt is RTP and returns where its recorded payload
// starts and ends (padding excluded, at most maxPayload bytes).
func payloadOf(pkt []byte) (off, end int, ok bool) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return 0, 0, false
	}
	off = 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // header extension
		if len(pkt) < off+4 {
			return 0, 0, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	end = len(pkt)
	if pkt[0]&0x20 != 0 && end > 0 { // padding
		end -= int(pkt[end-1])
	}
	if off > end {
		return 0, 0, false
	}
	return off, min(end, off+maxPayload), true
}

// Hand-off record layout: a fixed header, then the payload.
const (
	recArrival = 0  // int64, ns since the recording's start
	recTS      = 8  // uint32
	recSSRC    = 12 // uint32
	recSeq     = 16 // uint16
	recLen     = 18 // uint16, payload length
	recSide    = 20 // byte
	recPT      = 21 // byte
	recHeader  = 22
)

// appendPacket appends one hand-off record for pkt (payload pkt[off:end]).
func appendPacket(b []byte, side Side, pkt []byte, off, end int, d time.Duration) []byte {
	n := len(b)
	b = slices.Grow(b, recHeader+end-off)[:n+recHeader]
	h := b[n:]
	binary.LittleEndian.PutUint64(h[recArrival:], uint64(d))
	copy(h[recTS:recTS+4], pkt[4:8])
	copy(h[recSSRC:recSSRC+4], pkt[8:12])
	copy(h[recSeq:recSeq+2], pkt[2:4])
	binary.LittleEndian.PutUint16(h[recLen:], uint16(end-off))
	h[recSide] = byte(side)
	h[recPT] = pkt[1] & 0x7f
	return append(b, pkt[off:end]...)
}

// nextPacket decodes the record at the start of b into p (whose payload
// then points into b) and returns the rest of b.
func nextPacket(b []byte, p *rtpPacket) []byte {
	n := int(binary.LittleEndian.Uint16(b[recLen:]))
	p.arrival = time.Duration(binary.LittleEndian.Uint64(b[recArrival:]))
	p.ts = binary.BigEndian.Uint32(b[recTS:])
	p.ssrc = binary.BigEndian.Uint32(b[recSSRC:])
	p.seq = binary.BigEndian.Uint16(b[recSeq:])
	p.side = Side(b[recSide])
	p.pt = b[recPT]
	p.payload = b[recHeader : recHeader+n]
	return b[recHeader+n:]
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
	r.spans = append(r.spans, pauseSpan{from: max(samplePos(r.origin, at), 0), to: -1})
	r.paused.Store(true)
	r.pauses = append(r.pauses, PauseInterval{Start: r.dated(at), Reason: reason})
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
	to := max(samplePos(r.origin, at), r.spans[n-1].from)
	r.spans[n-1].to = to
	r.pauses[n-1].End = r.dated(at)
}

// dated returns the instant at (on the real clock, like arrivals) on the
// clock that dates the recording, in UTC.
func (r *Recorder) dated(at time.Time) time.Time {
	return r.info.Start.Add(at.Sub(r.origin)).UTC()
}

// mute implements muter for the mixer.
func (r *Recorder) mute(from int64, frames []int16) {
	if !r.paused.Load() {
		return
	}
	to := from + int64(len(frames)/Channels)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.spans {
		a, b := max(from, s.from), to
		if s.to >= 0 {
			b = min(to, s.to)
		}
		if a < b {
			clear(frames[Channels*(a-from) : Channels*(b-from)])
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
	return r.saveLocked()
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
	return r.saveLocked()
}

// saveLocked rewrites the spooled call record with what is known now, so
// that a recording cut short by a crash keeps it (r.mu is held): in the
// WAV's record chunk, in place, then synced (a survey answer survives a
// power loss too, as when the record was a file of its own); in the
// .json beside it (written atomically) once it no longer fits there.
// Before Manager.create made the WAV there is nothing to do: create
// writes the record as it is then.
func (r *Recorder) saveLocked() error {
	if r.recw == nil {
		return nil
	}
	rec := r.recordLocked()
	if !r.sideRecord {
		b, err := encodeRecord(rec)
		if err != nil {
			return fmt.Errorf("recording %s: %w", r.info.CallID, err)
		}
		err = r.recw.putRecord(b)
		if err == nil {
			if err = r.recw.f.Sync(); err != nil {
				return fmt.Errorf("recording %s: sync wav: %w", r.info.CallID, err)
			}
			if err = r.spoolSync.sync(); err != nil {
				return fmt.Errorf("recording %s: %w", r.info.CallID, err)
			}
			return nil
		}
		if !errors.Is(err, errRecordTooBig) {
			return fmt.Errorf("recording %s: %w", r.info.CallID, err)
		}
		r.sideRecord = true
	}
	if err := writeRecord(r.base+".json", rec, r.spoolSync); err != nil {
		return fmt.Errorf("recording %s: %w", r.info.CallID, err)
	}
	return nil
}

// mixBatch takes the packets handed off since the last batch and places
// them. r.wmu must be held.
func (r *Recorder) mixBatch() {
	r.inMu.Lock()
	b := r.in
	r.in, r.inN = r.spare[:0], 0
	r.inMu.Unlock()
	r.spare = b[:0] // the next batch goes there; b is not used after this call

	defer func() {
		// Packets come from the network: whatever they hold must not
		// take the whole service down. The call goes on unrecorded.
		if p := recover(); p != nil {
			r.werr = fmt.Errorf("recording: internal error: %v", p)
			r.log.Error("recording stopped by an internal error", "call_id", r.info.CallID, "panic", p)
		}
	}()
	var p rtpPacket
	for len(b) > 0 && r.werr == nil {
		b = nextPacket(b, &p)
		if err := r.mix.packet(&p); err != nil {
			r.werr = err
			r.log.Error("recording write failed; the rest of the call is not recorded", "call_id", r.info.CallID, "err", err)
		}
	}
}

// drain is the mixing goroutine's turn on r: place the packets handed off
// since the last turn and, once a second, write the buffered audio and
// update the WAV header.
func (r *Recorder) drain(now time.Time) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.wclosed {
		return
	}
	r.mixBatch()
	if r.werr == nil && now.Sub(r.lastFlush) >= flushInterval {
		r.lastFlush = now
		if err := r.wav.flush(); err != nil {
			r.werr = err
			r.log.Error("recording write failed; the rest of the call is not recorded", "call_id", r.info.CallID, "err", err)
		}
	}
}

// Finish ends the recording at end: the file is completed to exactly
// end-Start of audio (silence where nothing was received), synced and
// closed, the call record is written beside it, and both are queued for
// upload. With deferSync (the file backend) the syncs are the
// uploader's, once for a batch of recordings, before it stores them.
// Whatever the error, what was recorded stays in the spool and is
// uploaded. A second call returns ErrFinished.
func (r *Recorder) Finish(end time.Time) error {
	<-r.ready
	if r.openErr != nil {
		return r.openErr
	}
	r.mu.Lock()
	if r.finished.Load() {
		r.mu.Unlock()
		return ErrFinished
	}
	r.finished.Store(true)
	r.endPause(end)
	r.mu.Unlock()

	r.inMu.Lock()
	r.inClosed = true
	dropped := r.nDropped
	r.inMu.Unlock()
	if dropped > 0 {
		r.log.Info("recording finished with audio dropped, recorded as silence",
			"call_id", r.info.CallID, "dropped_packets", dropped)
	}
	r.wmu.Lock()
	r.wclosed = true // the mixing goroutine leaves wav and mix alone now
	r.mixBatch()
	spare := r.spare // nothing uses it any more: no batch after this one
	r.spare = nil
	r.wmu.Unlock()
	r.inMu.Lock()
	in := r.in // nothing uses it any more: Packets leaves it alone since inClosed
	r.in = nil
	r.inMu.Unlock()

	endPos := max(samplePos(r.origin, end), 0)
	var errs []error
	if r.werr != nil {
		errs = append(errs, r.werr)
	} else if err := r.mix.commit(endPos); err != nil {
		errs = append(errs, err)
	}
	frames, err := r.wav.end(endPos)
	if err != nil {
		errs = append(errs, err)
	}
	rec := r.record()
	rec.End = r.dated(end)
	rec.DurationSeconds = float64(frames) / SampleRate
	rec.Frames = frames
	// The final record goes into the WAV's chunk before the WAV is
	// synced: from then on the WAV alone is the finished recording, and
	// the .json beside it may be written in place (a torn one is rebuilt
	// from the chunk).
	r.mu.Lock()
	inChunk := !r.sideRecord
	r.mu.Unlock()
	b, err := encodeRecord(rec)
	if err != nil {
		errs = append(errs, err)
	}
	if inChunk = inChunk && len(errs) == 0; inChunk {
		if err := r.wav.putFinalRecord(b); err != nil {
			inChunk = false
			if !errors.Is(err, errRecordTooBig) {
				errs = append(errs, err)
			}
		}
	}
	// With deferSync a complete recording (its final record in the chunk)
	// is closed unsynced: the uploader syncs it with the others finished
	// by then, before anything is stored, so a recording is still stored
	// only once it is on disk. A process crash keeps what the page cache
	// holds; recovery treats a spool file cut short as a call cut short.
	deferred := r.deferSync && inChunk
	if err := r.wav.closeFile(!deferred); err != nil {
		errs = append(errs, err)
		inChunk, deferred = false, false
	}
	r.releaseBuffers(in, spare)
	if inChunk {
		err = nil
		if r.jsonFile {
			err = writeRecordFile(r.base+".json", b, !deferred)
		}
		if err == nil && !deferred {
			err = r.spoolSync.sync() // the WAV's name (and the .json's)
		}
	} else {
		// No complete record elsewhere: replace the .json atomically.
		err = writeRecord(r.base+".json", rec, r.spoolSync)
	}
	if err != nil {
		errs = append(errs, err)
	} else if len(errs) == 0 {
		r.final, r.unsynced = &rec, deferred
	}
	r.done(r)
	if len(errs) > 0 {
		return fmt.Errorf("recording %s: %w", r.info.CallID, errors.Join(errs...))
	}
	return nil
}

// releaseBuffers gives the recording's buffers back to the manager for
// later recordings: the hand-off buffers (in and spare, which Finish took
// from r) and the WAV writer's and the mixer's. Finish calls it once
// nothing can touch them: Packets leaves the hand-off alone since
// inClosed, the mixing goroutine leaves r alone since wclosed, Finish
// took the last batch, the mixer committed its last frames (or never
// will: werr) and the WAV is ended and closed; saveLocked (SetExtra,
// SetCSAT) returns ErrFinished before writing, and writes the record
// chunk from a buffer of its own anyway. r, wav and mix keep no
// reference to them.
func (r *Recorder) releaseBuffers(in, spare []byte) {
	b := r.bufs
	if b == nil {
		return
	}
	r.bufs = nil
	b.in, b.spare = in, spare
	b.wav, r.wav.pending = r.wav.pending, nil
	b.mix, r.mix.buf, r.mix.head = r.mix.buf, nil, 0
	r.pool.put(b)
}

// giveBack returns the buffers of a recorder that Begin made but did not
// start (none of them used).
func (r *Recorder) giveBack() *recBuffers {
	b := r.bufs
	r.bufs = nil
	b.in, b.spare, r.in, r.spare = r.in, r.spare, nil, nil
	return b
}

// record returns the call record as known now (no end yet).
func (r *Recorder) record() CallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recordLocked()
}

func (r *Recorder) recordLocked() CallRecord {
	st := r.Stats()
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
