package recording

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hotline/audio"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// Garbage put in every pooled buffer when it is given back, as the
// recording that takes it next could leave it.
const (
	poisonByte   = 0xA5
	poisonSample = -0x5A5B
)

// poison fills b's buffers, up to their capacity, with garbage.
func poison(b *recBuffers) {
	for _, buf := range [][]byte{b.wav, b.in, b.spare} {
		buf = buf[:cap(buf)]
		for i := range buf {
			buf[i] = poisonByte
		}
	}
	m := b.mix[:cap(b.mix)]
	for i := range m {
		m[i] = poisonSample
	}
}

// poisoned tells whether b's buffers still hold nothing but the garbage
// poison put in them: nothing wrote to them after they were given back.
func poisoned(b *recBuffers) bool {
	for _, buf := range [][]byte{b.wav, b.in, b.spare} {
		for _, v := range buf[:cap(buf)] {
			if v != poisonByte {
				return false
			}
		}
	}
	for _, v := range b.mix[:cap(b.mix)] {
		if v != poisonSample {
			return false
		}
	}
	return true
}

// bufferIDs identifies the buffers r's WAV writer and mixer use (by
// their first element) once its files are created.
type bufferIDs struct {
	wav *byte
	mix *int16
}

func (b *recBuffers) ids() bufferIDs { return bufferIDs{&b.wav[:1][0], &b.mix[:1][0]} }

func usedBuffers(r *Recorder) (bufferIDs, error) {
	<-r.ready
	if r.openErr != nil {
		return bufferIDs{}, r.openErr
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return bufferIDs{&r.wav.pending[:1][0], &r.mix.buf[:1][0]}, nil
}

// freeBuffers returns the sets of buffers m keeps.
func freeBuffers(m *Manager) []*recBuffers {
	m.bufs.mu.Lock()
	defer m.bufs.mu.Unlock()
	return append([]*recBuffers(nil), m.bufs.free...)
}

// readSamples is readPCM16 for a WAV in format (u-law samples decoded).
func readSamples(t *testing.T, path string, format Format) (WAVInfo, [Channels][]int16) {
	t.Helper()
	if format == FormatPCM16 {
		return readPCM16(t, path)
	}
	info, err := ReadWAVInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := info.DataOffset + info.Frames*int64(info.BlockAlign); int64(len(raw)) != want {
		t.Fatalf("%s: file is %d bytes, header says %d", path, len(raw), want)
	}
	if info.Format != FormatULaw || info.Channels != 2 || info.SampleRate != 8000 || info.BlockAlign != 2 {
		t.Fatalf("unexpected format %+v", info)
	}
	var ch [Channels][]int16
	for i := info.DataOffset; i+2 <= int64(len(raw)); i += 2 {
		ch[0] = append(ch[0], g711.DecodeUlawFrame(raw[i]))
		ch[1] = append(ch[1], g711.DecodeUlawFrame(raw[i+1]))
	}
	return info, ch
}

// asStored returns what a recording in format holds for want: u-law
// quantizes the samples.
func asStored(want *expect, format Format) *expect {
	if format == FormatULaw {
		for _, ch := range want.ch {
			for i, s := range ch {
				ch[i] = g711.DecodeUlawFrame(g711.EncodeUlawFrame(s))
			}
		}
	}
	return want
}

// checkSpoolHead checks the first spoolDataOffset bytes of a spool WAV
// byte for byte: the header for the frames it holds, the record chunk
// (call callID's record, JSON, then spaces to the end of the chunk; when
// final, exactly the record Finish wrote beside the WAV), and the data
// chunk's header.
func checkSpoolHead(t *testing.T, path string, format Format, callID string, final bool) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < spoolDataOffset {
		t.Fatalf("%s: %d bytes", path, len(raw))
	}
	hl := format.headerLen()
	body := raw[hl : spoolDataOffset-8]
	rec := bytes.TrimRight(body, " ")
	var cr CallRecord
	if err := json.Unmarshal(rec, &cr); err != nil || cr.CallID != callID || final == cr.End.IsZero() {
		t.Fatalf("%s: record chunk does not hold call %s's record (final %v): %v\n%q", path, callID, final, err, body)
	}
	if final {
		if rec, err = os.ReadFile(strings.TrimSuffix(path, ".wav") + ".json"); err != nil {
			t.Fatal(err)
		}
	}
	frames := (int64(len(raw)) - spoolDataOffset) / int64(format.blockAlign())
	want := make([]byte, spoolDataOffset)
	h := wavHeaderAt(format, frames, spoolDataOffset)
	copy(want, h[:hl-8])
	copy(want[hl-8:], recordChunkID)
	binary.LittleEndian.PutUint32(want[hl-4:], uint32(spoolDataOffset-8-hl))
	padRecord(want[hl:spoolDataOffset-8], rec)
	copy(want[spoolDataOffset-8:], h[hl-8:])
	for i := range want {
		if raw[i] != want[i] {
			t.Fatalf("%s: byte %d of the header and record chunk is %#x, want %#x", path, i, raw[i], want[i])
		}
	}
}

// finishOnFailure finishes r at end if the test stops before it does:
// the manager's Close would finish it now, months after t0, writing all
// that silence.
func finishOnFailure(t *testing.T, r *Recorder, end time.Time) {
	t.Cleanup(func() { r.Finish(end) })
}

// TestReusedBuffersCarryNothingOver records two calls back to back on one
// manager, the second with the first's buffers, both taken full of
// garbage (and garbage put in them again the moment they are given back):
// each WAV holds exactly its own header, call record and audio, silence
// where nothing was received; nothing is written to the buffers once
// given back.
func TestReusedBuffersCarryNothingOver(t *testing.T) {
	for _, format := range []Format{FormatPCM16, FormatULaw} {
		t.Run(string(format), func(t *testing.T) {
			c := testConfig(t)
			c.Format = format
			m := newTestManager(t, c)
			m.bufs.released = poison
			seed := &recBuffers{
				wav:   make([]byte, 0, wavBufferCap(format)),
				mix:   make([]int16, 0, mixerBufferCap(windowFrames(c.JitterWindow))),
				in:    make([]byte, 0, 4096),
				spare: make([]byte, 0, 4096),
			}
			ids := seed.ids()
			m.bufs.put(seed)

			// Call 1: 1.5 s of both legs (the WAV's buffer fills and is
			// written once), two of the agent's packets lost.
			r1, err := m.Begin(CallInfo{CallID: "call-1", Start: t0})
			if err != nil {
				t.Fatal(err)
			}
			finishOnFailure(t, r1, at(1500))
			if got, err := usedBuffers(r1); err != nil || got != ids {
				t.Fatalf("call 1 does not use the pooled buffers")
			}
			want1 := newExpect(12000)
			for k := range 75 {
				callerU.send(r1, k)
				want1.put(Caller, 160*k, 160, audio.ULaw, code(k))
				if k != 30 && k != 31 {
					agentA.send(r1, k)
					want1.put(Agent, 80+160*k, 160, audio.ALaw, code(k))
				}
			}
			if err := r1.Finish(at(1500)); err != nil {
				t.Fatal(err)
			}
			free := freeBuffers(m)
			if len(free) != 1 || free[0].ids() != ids {
				t.Fatalf("call 1's buffers were not given back: %d sets kept", len(free))
			}
			if !poisoned(free[0]) {
				t.Fatal("call 1's buffers were written after they were given back")
			}

			// Call 2, shorter: a few agent packets, one lost; silence
			// everywhere else.
			r2, err := m.Begin(CallInfo{CallID: "call-2", Start: t0})
			if err != nil {
				t.Fatal(err)
			}
			finishOnFailure(t, r2, at(400))
			if got, err := usedBuffers(r2); err != nil || got != ids {
				t.Fatalf("call 2 does not use call 1's buffers")
			}
			// As created, in a buffer that held call 1's bytes, then garbage.
			checkSpoolHead(t, r2.Path(), format, "call-2", false)
			agent2 := stream{side: Agent, pt: 0, codec: audio.ULaw, seq0: 7, ts0: 5000, ssrc: 0xB0B, ptime: 160}
			want2 := newExpect(3200)
			for _, k := range []int{5, 6, 8, 9} {
				r2.Packet(Agent, agent2.pkt(k, 0x33), agent2.arrival(k))
				want2.put(Agent, 160*k, 160, audio.ULaw, 0x33)
			}
			if err := r2.Finish(at(400)); err != nil {
				t.Fatal(err)
			}
			if free := freeBuffers(m); len(free) != 1 || free[0].ids() != ids || !poisoned(free[0]) {
				t.Fatal("call 2's buffers were not given back, or written after")
			}

			for _, f := range []struct {
				r    *Recorder
				want *expect
			}{{r1, want1}, {r2, want2}} {
				checkSpoolHead(t, f.r.Path(), format, f.r.info.CallID, true)
				_, ch := readSamples(t, f.r.Path(), format)
				checkChannels(t, ch, asStored(f.want, format))
			}
		})
	}
}

// TestConcurrentRecordingsShareBuffersSafely records calls from several
// goroutines at once, each call with audio of its own, garbage put in
// every set of buffers given back: no recording's file shows another's
// audio or garbage (under -race, a buffer used by two recordings at once
// is reported as a race), and the manager never holds more sets than
// recordings were in progress at once.
func TestConcurrentRecordingsShareBuffersSafely(t *testing.T) {
	const workers, calls = 4, 5
	m := newTestManager(t, testConfig(t))
	m.bufs.released = poison
	var recs [workers * calls]*Recorder
	var wants [workers * calls]*expect
	var ids [workers * calls]bufferIDs
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				n := w*calls + i
				r, err := m.Begin(CallInfo{CallID: fmt.Sprintf("call-%d", n), Start: t0})
				if err != nil {
					t.Error(err)
					return
				}
				finishOnFailure(t, r, at(250))
				if ids[n], err = usedBuffers(r); err != nil {
					t.Error(err)
					return
				}
				want := newExpect(2000)
				for k := range 12 {
					v := byte(0x10 + n) // this call's agent audio
					callerU.send(r, k)
					r.Packet(Agent, agentA.pkt(k, v), agentA.arrival(k))
					want.put(Caller, 160*k, 160, audio.ULaw, code(k))
					want.put(Agent, 80+160*k, 160, audio.ALaw, v)
				}
				if err := r.Finish(at(250)); err != nil {
					t.Error(err)
					return
				}
				recs[n], wants[n] = r, want
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sets := map[bufferIDs]bool{}
	for n, r := range recs {
		sets[ids[n]] = true
		checkSpoolHead(t, r.Path(), FormatPCM16, r.info.CallID, true)
		_, ch := readPCM16(t, r.Path())
		checkChannels(t, ch, wants[n])
	}
	// A set is made only when every other one is in use.
	if len(sets) > workers {
		t.Errorf("%d sets of buffers for %d recordings at a time", len(sets), workers)
	}
	for _, b := range freeBuffers(m) {
		if !poisoned(b) {
			t.Error("buffers written after they were given back")
		}
	}
}
