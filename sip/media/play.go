package media

import (
	"encoding/binary"
	"hotline/audio"
	"time"
)

// Packetisation of generated audio.
const (
	sampleRate     = 8000
	frameSamples   = 160 // 20 ms at 8 kHz
	frameDuration  = 20 * time.Millisecond
	rtpHeaderBytes = 12
)

// Source produces audio to play into a leg: 8 kHz 16-bit linear samples,
// as clips, tones and mixes give them (audio.Reader).
type Source = audio.Reader

// Play sends audio from src to the peer in 20 ms packets, with the leg's
// own SSRC, sequence numbers and timestamps, encoded in the peer's Format.
// It replaces what was playing; Play(nil) stops. Nothing is sent before
// SetRemote, nor while the leg is bridged (Bridge stops playback).
func (l *Leg) Play(src Source) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.play; p != nil {
		close(p.stop)
		<-p.done // the next player takes over the RTP state
		l.play = nil
	}
	if src == nil || l.closed {
		return
	}
	p := &player{stop: make(chan struct{}), done: make(chan struct{})}
	l.play = p
	l.wg.Add(1)
	go l.playLoop(src, p)
}

func (l *Leg) playLoop(src Source, p *player) {
	defer l.wg.Done()
	defer close(p.done)
	ps := &l.ps
	if !ps.last.IsZero() { // keep the clock running between streams
		ps.ts += uint32(time.Since(ps.last) / time.Millisecond * (sampleRate / 1000))
	}
	defer func() { ps.last = time.Now() }()

	var samples [frameSamples]int16
	var pkt [rtpHeaderBytes + frameSamples]byte
	marker := true
	t := time.NewTicker(frameDuration)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		r := l.remote.Load()
		if !r.canSend() || l.peer.Load() != nil {
			ps.ts += frameSamples
			continue
		}
		src.Read(samples[:])
		pkt[0] = 0x80
		pkt[1] = r.f.PT & 0x7f
		if marker {
			pkt[1] |= 0x80
			marker = false
		}
		binary.BigEndian.PutUint16(pkt[2:], ps.seq)
		binary.BigEndian.PutUint32(pkt[4:], ps.ts)
		binary.BigEndian.PutUint32(pkt[8:], ps.ssrc)
		audio.Encode(pkt[rtpHeaderBytes:], samples[:], r.f.Encoding)
		l.send(pkt[:], r.dest)
		ps.seq++
		ps.ts += frameSamples
	}
}

// NewTone returns a Source of the sum of sine waves at freqs (Hz), on for
// on and silent for off, repeating (audio.NewTone).
func NewTone(freqs []float64, on, off time.Duration, amplitude float64) Source {
	return audio.NewTone(freqs, on, off, amplitude)
}
