package recording

import (
	"encoding/binary"
	"errors"
	"hotline/audio"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// record runs fn against a fresh recorder started at t0, finishes it at
// end (ms after t0) and returns the recorder and its file's channels.
func record(t *testing.T, c Config, endMs float64, fn func(r *Recorder)) (*Recorder, WAVInfo, [Channels][]int16) {
	t.Helper()
	m := newTestManager(t, c)
	r, err := m.Begin(CallInfo{CallID: "call-1", Caller: "+15551234", Agent: "alice", Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	fn(r)
	if err := r.Finish(at(endMs)); err != nil {
		t.Fatal(err)
	}
	if c.Format == FormatULaw {
		return r, WAVInfo{}, [Channels][]int16{}
	}
	info, ch := readPCM16(t, r.Path())
	return r, info, ch
}

var (
	callerU = stream{side: Caller, pt: 0, codec: audio.ULaw, seq0: 100, ts0: 1000, ssrc: 0xCA11, ptime: 160}
	// The agent's numbers wrap around during the test.
	agentA = stream{side: Agent, pt: 8, codec: audio.ALaw, seq0: 65530, ts0: 0xFFFFFE00, ssrc: 0xA6E7, startMs: 10, ptime: 160}
)

func TestInOrderPCMUAndPCMA(t *testing.T) {
	_, info, ch := record(t, testConfig(t), 300, func(r *Recorder) {
		for k := 0; k < 10; k++ {
			callerU.send(r, k)
			agentA.send(r, k)
		}
	})
	if info.Frames != 2400 {
		t.Fatalf("frames = %d, want 2400 (300 ms)", info.Frames)
	}
	want := newExpect(2400)
	for k := 0; k < 10; k++ {
		want.put(Caller, 160*k, 160, audio.ULaw, code(k))
		want.put(Agent, 80+160*k, 160, audio.ALaw, code(k)) // agent's first packet arrived 10 ms in
	}
	checkChannels(t, ch, want)
}

func TestReorderedLostDuplicated(t *testing.T) {
	r, _, ch := record(t, testConfig(t), 200, func(r *Recorder) {
		s := callerU
		s.send(r, 0)
		s.send(r, 1)
		s.send(r, 3)
		r.Packet(Caller, s.pkt(2, code(2)), at(65)) // after 3
		s.send(r, 4)
		// 5 is lost
		s.send(r, 6)
		s.send(r, 7)
		r.Packet(Caller, s.pkt(7, 0x55), at(141)) // duplicate with other content
		s.send(r, 8)
		s.send(r, 9)
	})
	want := newExpect(1600)
	for k := 0; k < 10; k++ {
		if k != 5 {
			want.put(Caller, 160*k, 160, audio.ULaw, code(k))
		}
	}
	checkChannels(t, ch, want)
	st := r.Stats()
	if st.Duplicates != 1 || st.Late != 0 || st.Received[Caller] != 10 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want 1 duplicate, 10 received", st)
	}
}

func TestLatePacketBeyondWindowIsSilence(t *testing.T) {
	r, _, ch := record(t, testConfig(t), 200, func(r *Recorder) {
		s := callerU
		for k := 0; k < 10; k++ {
			if k != 3 {
				s.send(r, k)
			}
		}
		// Way past the 200 ms window: its place is already written.
		r.Packet(Caller, s.pkt(3, code(3)), at(181+200))
	})
	want := newExpect(1600)
	for k := 0; k < 10; k++ {
		if k != 3 {
			want.put(Caller, 160*k, 160, audio.ULaw, code(k))
		}
	}
	checkChannels(t, ch, want)
	if st := r.Stats(); st.Late != 1 {
		t.Errorf("late = %d, want 1", st.Late)
	}
}

func TestSSRCChangeWithTimestampJump(t *testing.T) {
	r, _, ch := record(t, testConfig(t), 700, func(r *Recorder) {
		a := callerU
		// After a hold and re-INVITE: new SSRC, numbering and timestamps.
		b := stream{side: Caller, pt: 0, seq0: 9, ts0: 123456789, ssrc: 0xB0B, startMs: 500, ptime: 160}
		// The agent leg is unaffected and stays aligned. Packets are sent
		// in order of arrival.
		for k := 0; k < 30; k++ {
			if k < 5 {
				a.send(r, k)
			}
			if k >= 25 {
				b.send(r, k-25)
			}
			if k == 25 {
				r.Packet(Caller, a.pkt(5, 0x70), at(505)) // straggler of the old stream
			}
			agentA.send(r, k)
		}
	})
	want := newExpect(5600)
	for k := 0; k < 5; k++ {
		want.put(Caller, 160*k, 160, audio.ULaw, code(k))
		want.put(Caller, 4000+160*k, 160, audio.ULaw, code(k))
	}
	for k := 0; k < 30; k++ {
		want.put(Agent, 80+160*k, 160, audio.ALaw, code(k))
	}
	checkChannels(t, ch, want)
	if st := r.Stats(); st.Reanchors != 1 || st.Late != 1 {
		t.Errorf("stats = %+v, want 1 reanchor and 1 late", st)
	}
}

func TestTimestampJumpsSameSSRC(t *testing.T) {
	r, _, ch := record(t, testConfig(t), 400, func(r *Recorder) {
		s := callerU
		for k := 0; k < 20; k++ {
			p := s.pkt(k, code(k))
			ts := s.ts0 + uint32(160*k)
			switch {
			case k >= 10: // and then backwards
				ts -= 5_000_000
			case k >= 5: // forward jump of about two minutes
				ts += 1_000_000
			}
			p[4], p[5], p[6], p[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
			r.Packet(Caller, p, s.arrival(k))
		}
	})
	want := newExpect(3200)
	for k := 0; k < 20; k++ {
		want.put(Caller, 160*k, 160, audio.ULaw, code(k))
	}
	checkChannels(t, ch, want)
	if st := r.Stats(); st.Reanchors != 2 {
		t.Errorf("reanchors = %d, want 2", st.Reanchors)
	}
}

func TestHoldGapWithContinuousTimestamps(t *testing.T) {
	// The sender stops during hold and resumes numbering and timestamps
	// where it stopped: the resumed audio goes where it arrived, 2 s later.
	_, _, ch := record(t, testConfig(t), 2200, func(r *Recorder) {
		s := callerU
		for k := 0; k < 5; k++ {
			s.send(r, k)
		}
		for k := 5; k < 10; k++ {
			r.Packet(Caller, s.pkt(k, code(k)), at(2000+float64(20*(k-5))))
		}
	})
	want := newExpect(17600)
	for k := 0; k < 5; k++ {
		want.put(Caller, 160*k, 160, audio.ULaw, code(k))
	}
	for k := 5; k < 10; k++ {
		want.put(Caller, 16000+160*(k-5), 160, audio.ULaw, code(k))
	}
	checkChannels(t, ch, want)
}

func TestPauseResumeLeavesSilence(t *testing.T) {
	var r *Recorder
	r, _, ch := record(t, testConfig(t), 400, func(rr *Recorder) {
		r = rr
		for k := 0; k < 20; k++ {
			if k == 6 {
				if err := r.Pause(at(100), "card number"); err != nil {
					t.Fatal(err)
				}
			}
			if k == 10 {
				if err := r.Resume(at(200)); err != nil {
					t.Fatal(err)
				}
			}
			callerU.send(r, k)
			agentA.send(r, k)
		}
		if err := r.SetCSAT(4); err != nil {
			t.Fatal(err)
		}
	})
	want := newExpect(3200)
	for k := 0; k < 20; k++ {
		want.put(Caller, 160*k, 160, audio.ULaw, code(k))
		want.put(Agent, 80+160*k, 160, audio.ALaw, code(k))
	}
	want.zero(800, 1600)
	checkChannels(t, ch, want)

	rec, err := readRecord(strings.TrimSuffix(r.Path(), ".wav") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Pauses) != 1 || !rec.Pauses[0].Start.Equal(at(100)) || !rec.Pauses[0].End.Equal(at(200)) || rec.Pauses[0].Reason != "card number" {
		t.Errorf("pauses = %+v", rec.Pauses)
	}
	if rec.CSAT == nil || *rec.CSAT != 4 || !rec.End.Equal(at(400)) || rec.DurationSeconds != 0.4 || rec.Frames != 3200 {
		t.Errorf("record = %+v", rec)
	}
	if err := r.Pause(at(500), "late"); !errors.Is(err, ErrFinished) {
		t.Errorf("Pause after Finish: %v, want ErrFinished", err)
	}
	if err := r.Finish(at(500)); !errors.Is(err, ErrFinished) {
		t.Errorf("second Finish: %v, want ErrFinished", err)
	}
}

func TestULawFormat(t *testing.T) {
	c := testConfig(t)
	c.Format = FormatULaw
	r, _, _ := record(t, c, 100, func(r *Recorder) {
		for k := 0; k < 5; k++ {
			callerU.send(r, k)
			agentA.send(r, k)
		}
	})
	info, err := ReadWAVInfo(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != FormatULaw || info.FormatTag != 7 || info.BlockAlign != 2 || info.BitsPerSample != 8 || info.Frames != 800 || info.DataOffset != spoolDataOffset {
		t.Fatalf("info = %+v", info)
	}
	raw, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	// The spool WAV carries the call record in a chunk before the data
	// (see wavWriter): the samples start at spoolDataOffset.
	if len(raw) != spoolDataOffset+800*2 {
		t.Fatalf("file is %d bytes, want %d", len(raw), spoolDataOffset+1600)
	}
	if string(raw[38:42]) != "fact" || int(raw[46])|int(raw[47])<<8 != 800 {
		t.Errorf("fact chunk = % x", raw[38:50])
	}
	if string(raw[50:54]) != recordChunkID || string(raw[spoolDataOffset-8:spoolDataOffset-4]) != "data" {
		t.Errorf("chunks after fact: %q at 50, %q at %d", raw[50:54], raw[spoolDataOffset-8:spoolDataOffset-4], spoolDataOffset-8)
	}
	data := raw[spoolDataOffset:]
	for f := 0; f < 800; f++ {
		wantL := code(f / 160) // PCMU is stored as received
		wantR := byte(0xFF)    // u-law silence
		if f >= 80 {
			wantR = g711.EncodeUlawFrame(g711.DecodeAlawFrame(code((f - 80) / 160)))
		}
		if data[2*f] != wantL || data[2*f+1] != wantR {
			t.Fatalf("frame %d = %02x %02x, want %02x %02x", f, data[2*f], data[2*f+1], wantL, wantR)
		}
	}
}

func TestDynamicPayloadTypeAndIgnoredPackets(t *testing.T) {
	r, _, ch := record(t, testConfig(t), 100, func(r *Recorder) {
		r.SetFormat(Agent, audio.PCMA().WithPT(96))
		s := agentA
		s.pt = 96
		s.startMs = 0
		for k := 0; k < 5; k++ {
			s.send(r, k)
		}
		r.Packet(Caller, mkRTP(101, 1, 1, 1, []byte{1, 2, 3, 4}), at(1)) // telephone-event
		r.Packet(Caller, []byte{0x80, 0}, at(1))                         // malformed
	})
	want := newExpect(800)
	for k := 0; k < 5; k++ {
		want.put(Agent, 160*k, 160, audio.ALaw, code(k))
	}
	checkChannels(t, ch, want)
	if st := r.Stats(); st.Ignored != 1 || st.Malformed != 1 {
		t.Errorf("stats = %+v, want 1 ignored, 1 malformed", st)
	}
}

func TestFullHandOffDropsToSilence(t *testing.T) {
	c := testConfig(t)
	c.QueuePackets = 8
	var st Stats
	r, _, ch := record(t, c, 1400, func(r *Recorder) {
		s := callerU
		s.startMs = 1000
		s.send(r, 0)
		waitHandedOff(t, r)
		// Stall the mixing goroutine on this recording.
		r.wmu.Lock()
		for k := 1; k <= 12; k++ {
			s.send(r, k) // 8 fit, 4 do not
		}
		r.wmu.Unlock()
		st = r.Stats()
	})
	if st.Received[Caller] != 9 || st.Dropped != 4 {
		t.Fatalf("stats = %+v, want 9 received, 4 dropped", st)
	}
	if n := r.drops.total.Load(); n != 4 { // the manager's Backlog.DroppedPackets
		t.Errorf("manager counts %d dropped packets, want 4", n)
	}
	// The recording says audio is missing: in its call record and in the
	// stored objects' metadata.
	rec, err := readRecord(strings.TrimSuffix(r.Path(), ".wav") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Stats == nil || rec.Stats.Dropped != 4 || rec.metadata()["dropped-packets"] != "4" {
		t.Errorf("call record stats %+v, metadata %v: want 4 dropped packets", rec.Stats, rec.metadata())
	}
	want := newExpect(11200)
	for k := 0; k <= 8; k++ {
		want.put(Caller, 8000+160*k, 160, audio.ULaw, code(k))
	}
	checkChannels(t, ch, want)
}

func TestPacketDoesNotAllocate(t *testing.T) {
	m := newTestManager(t, testConfig(t))
	r, err := m.Begin(CallInfo{CallID: "alloc", Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Finish(at(100))
	pkt := mkRTP(0, 1, 1, 1, fill(0x20, 160))
	arrival := at(1000)
	// A call's packets, handed off in batches (the mixing goroutine's turn
	// is taken here, at once): once the hand-off buffers have their working
	// size, neither Packet nor the mixer allocates.
	batch := func() {
		r.Packet(Caller, pkt, arrival)
		r.Packet(Agent, pkt, arrival)
		r.Packet(Caller, pkt, arrival)
		r.drain(r.lastFlushTime())
	}
	for range 20 {
		batch()
	}
	allocs := testing.AllocsPerRun(200, batch)
	if allocs != 0 {
		t.Errorf("Packet and the mixer allocate %.1f times per batch", allocs)
	}
}

// lastFlushTime is when r's buffered audio was last written: draining
// with it as now writes nothing.
func (r *Recorder) lastFlushTime() time.Time {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.lastFlush
}

// waitHandedOff waits until the mixing goroutine has taken every packet
// handed off to r.
func waitHandedOff(t testing.TB, r *Recorder) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.inMu.Lock()
		n := r.inN
		r.inMu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d packets still waiting for the mixer after 5s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// benchPacket hands r the i-th packet of a call's two 20 ms streams
// (even i the caller's, odd the agent's, both from start), rewriting
// caller or agent in place, and takes the mixing goroutine's turn after
// every tenth.
func benchPacket(r *Recorder, i int, caller, agent []byte, start time.Time) {
	k := i / 2
	p := caller
	if i&1 == 1 {
		p = agent
	}
	binary.BigEndian.PutUint16(p[2:], uint16(k))
	binary.BigEndian.PutUint32(p[4:], uint32(160*k))
	at := start.Add(time.Duration(k) * 20 * time.Millisecond)
	r.Packet(Side(i&1), p, at)
	if i%10 == 9 {
		r.drain(at)
	}
}

// BenchmarkPacket measures a recorder's work per packet: the hand-off
// (Packet) and the mixing goroutine's share (placing, committing, writing
// the file once per second of audio), for a call's two 20 ms streams, with
// the mixing goroutine's turns taken inline every 5 packets of each side
// (50 ms of audio, as often as it runs).
func BenchmarkPacket(b *testing.B) {
	c := Config{SpoolDir: b.TempDir(), File: FileConfig{Dir: b.TempDir()}}
	m, err := New(c, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	start := time.Now()
	r, err := m.Begin(CallInfo{CallID: "bench", Start: start})
	if err != nil {
		b.Fatal(err)
	}
	r.SetFormat(Agent, audio.PCMA().WithPT(8))
	// Its files are created off the call's path: the manager's mixing
	// goroutine takes its turns only after that, and so must this loop.
	<-r.ready
	if r.openErr != nil {
		b.Fatal(r.openErr)
	}
	caller := mkRTP(0, 1, 1, 1, fill(0x20, 160))
	agent := mkRTP(8, 1, 1, 2, fill(0x21, 160))
	b.ReportAllocs()
	b.SetBytes(int64(len(caller)))
	i := 0
	for b.Loop() {
		benchPacket(r, i, caller, agent, start)
		i++
	}
	b.StopTimer()
	if err := r.Finish(start.Add(time.Duration(i/2) * 20 * time.Millisecond)); err != nil {
		b.Fatal(err)
	}
	if st := r.Stats(); st.Dropped != 0 || st.Late != 0 {
		b.Fatalf("stats %+v", st)
	}
}

func TestRandomPacketsKeepFileValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r, info, _ := record(t, testConfig(t), 3000, func(r *Recorder) {
		var ssrc [2]uint32
		var seq [2]uint16
		var ts [2]uint32
		arrival := 0.0
		for i := 0; i < 3000; i++ {
			side := Side(rng.IntN(2))
			switch rng.IntN(20) {
			case 0:
				ssrc[side] = rng.Uint32()
			case 1:
				seq[side] = uint16(rng.Uint32())
			case 2:
				ts[side] = rng.Uint32()
			}
			seq[side] += uint16(rng.IntN(5)) - 2
			ts[side] += uint32(rng.IntN(400)) - 100
			pkt := mkRTP(uint8(rng.IntN(10)), seq[side], ts[side], ssrc[side], fill(byte(rng.Uint32()), rng.IntN(700)))
			if rng.IntN(50) == 0 {
				pkt[0] |= byte(rng.IntN(64)) // padding, extension, CSRC bits on a short packet
			}
			arrival += rng.Float64() * 2
			r.Packet(side, pkt, at(arrival-10))
		}
	})
	if info.Frames != 24000 {
		t.Errorf("frames = %d, want 24000", info.Frames)
	}
	if st := r.Stats(); st.Received[0]+st.Received[1]+st.Malformed != 3000 || st.Dropped != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestPacketsInBatches: packets handed off together (what one read of a
// leg's socket returned, with one arrival time) are placed where their
// timestamps say, as if handed off one by one; a malformed one among
// them is counted and left out.
func TestPacketsInBatches(t *testing.T) {
	var st Stats
	_, info, ch := record(t, testConfig(t), 300, func(r *Recorder) {
		s := callerU
		r.Packets(s.side, [][]byte{s.pkt(0, code(0))}, s.arrival(0))
		// 1-4 held up in the socket, read together at 4's arrival.
		r.Packets(s.side, [][]byte{s.pkt(1, code(1)), s.pkt(2, code(2)), []byte("not RTP"), s.pkt(3, code(3)), s.pkt(4, code(4))}, s.arrival(4))
		for k := 5; k < 10; k++ {
			r.Packets(s.side, [][]byte{s.pkt(k, code(k))}, s.arrival(k))
		}
		r.Packets(s.side, nil, s.arrival(9)) // nothing
		st = r.Stats()
	})
	if info.Frames != 2400 {
		t.Fatalf("frames = %d, want 2400 (300 ms)", info.Frames)
	}
	want := newExpect(2400)
	for k := 0; k < 10; k++ {
		want.put(Caller, 160*k, 160, audio.ULaw, code(k))
	}
	checkChannels(t, ch, want)
	if st.Received[Caller] != 10 || st.Malformed != 1 || st.Dropped != 0 || st.Late != 0 {
		t.Errorf("stats = %+v, want 10 received, 1 malformed", st)
	}
}

// TestFullHandOffDropsPartOfABatch: a batch that does not fit in the
// hand-off buffer is taken in order up to its bound; the rest is counted
// as dropped (and recorded as silence).
func TestFullHandOffDropsPartOfABatch(t *testing.T) {
	c := testConfig(t)
	c.QueuePackets = 8
	var st Stats
	r, _, ch := record(t, c, 1400, func(r *Recorder) {
		s := callerU
		s.startMs = 1000
		s.send(r, 0)
		waitHandedOff(t, r)
		r.wmu.Lock() // stall the mixing goroutine on this recording
		var batch [][]byte
		for k := 1; k <= 12; k++ {
			batch = append(batch, s.pkt(k, code(k)))
		}
		r.Packets(s.side, batch, s.arrival(1)) // a burst: 8 fit, 4 do not
		r.wmu.Unlock()
		st = r.Stats()
	})
	if st.Received[Caller] != 9 || st.Dropped != 4 {
		t.Fatalf("stats = %+v, want 9 received, 4 dropped", st)
	}
	if n := r.drops.total.Load(); n != 4 {
		t.Errorf("manager counts %d dropped packets, want 4", n)
	}
	want := newExpect(11200)
	for k := 0; k <= 8; k++ {
		want.put(Caller, 8000+160*k, 160, audio.ULaw, code(k))
	}
	checkChannels(t, ch, want)
}
