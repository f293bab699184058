package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hotline/audio"
	"io"
	"math"
	"os"
	"time"

	"github.com/zaf/g711"
)

// RTP payload types of the G.711 codecs the helpers understand.
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
)

// G.711 audio framing used throughout the helpers: 8 kHz, 20 ms packets.
const (
	G711Rate        = 8000
	FrameDuration   = 20 * time.Millisecond
	SamplesPerFrame = G711Rate / 50
)

// DefaultToneAmplitude is the peak amplitude of generated tones: about
// -10 dBFS, loud enough to survive G.711 and any mixing, far from clipping.
const DefaultToneAmplitude = 10000

// SilenceThreshold is the RMS level (of int16 samples) under which a 20 ms
// frame counts as silent in ActiveDuration: about -50 dBFS, far above the
// residual noise of G.711 silence and far below any test tone.
const SilenceThreshold = 100

// Sentinel errors of the audio helpers.
var (
	ErrBadWAV               = errors.New("e2e: not a WAV file this package can read")
	ErrUnsupportedPT        = errors.New("e2e: unsupported RTP payload type (want 0 PCMU or 8 PCMA)")
	ErrUnsupportedWAVFormat = errors.New("e2e: unsupported WAV sample format")
)

// ToneSamples returns dur of a sine tone at freqHz sampled at rate, with peak
// amplitude amp (int16 scale; 0 means DefaultToneAmplitude).
func ToneSamples(freqHz float64, dur time.Duration, rate int, amp float64) []int16 {
	if amp == 0 {
		amp = DefaultToneAmplitude
	}
	n := int(dur.Seconds() * float64(rate))
	out := make([]int16, n)
	w := 2 * math.Pi * freqHz / float64(rate)
	for i := range out {
		out[i] = int16(amp * math.Sin(w*float64(i)))
	}
	return out
}

// EncodeG711 encodes 16-bit linear samples with the codec of payload type
// pt (PayloadPCMU or PayloadPCMA).
func EncodeG711(pt uint8, samples []int16) ([]byte, error) {
	out := make([]byte, len(samples))
	switch pt {
	case PayloadPCMU:
		for i, s := range samples {
			out[i] = g711.EncodeUlawFrame(s)
		}
	case PayloadPCMA:
		for i, s := range samples {
			out[i] = g711.EncodeAlawFrame(s)
		}
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedPT, pt)
	}
	return out, nil
}

// DecodeG711 appends to dst the linear samples of the G.711 payload of
// payload type pt.
func DecodeG711(dst []int16, pt uint8, payload []byte) ([]int16, error) {
	switch pt {
	case PayloadPCMU:
		for _, b := range payload {
			dst = append(dst, g711.DecodeUlawFrame(b))
		}
	case PayloadPCMA:
		for _, b := range payload {
			dst = append(dst, g711.DecodeAlawFrame(b))
		}
	default:
		return dst, fmt.Errorf("%w: %d", ErrUnsupportedPT, pt)
	}
	return dst, nil
}

// WriteTonePCAP writes to path a libpcap capture of an RTP stream carrying a
// freqHz tone for dur, G.711 encoded with payload type pt (0 PCMU, 8 PCMA),
// in 20 ms packets. It is meant for SIPp's <exec play_pcap_audio="path"/>.
func WriteTonePCAP(path string, freqHz float64, dur time.Duration, pt uint8) error {
	return WriteRTPPCAP(path, pt, ToneSamples(freqHz, dur, G711Rate, 0))
}

// WriteRTPPCAP writes samples (8 kHz linear) as a G.711 RTP stream of payload
// type pt into a libpcap file that SIPp's play_pcap_audio can replay.
//
// How SIPp 3.6.1 replays a capture: it accepts Ethernet (or Linux cooked)
// link types, keeps only IPv4/IPv6 UDP packets, and sends each UDP datagram
// (header and payload) through a raw socket (SIPp must run as root or with
// CAP_NET_RAW), rewriting only the UDP ports (source = -mp port, destination
// = the media port of the peer's SDP, both offset by the packet's destination
// port minus the lowest destination port of the file) and the checksum. It
// paces packets by the capture timestamps. The RTP header is sent as written,
// so this file carries consistent sequence numbers, timestamps and one SSRC.
func WriteRTPPCAP(path string, pt uint8, samples []int16) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("e2e: create pcap: %w", err)
	}
	w := bufio.NewWriter(f)
	werr := writeRTPPCAP(w, pt, samples)
	if werr == nil {
		werr = w.Flush()
	}
	if cerr := f.Close(); werr == nil && cerr != nil {
		werr = fmt.Errorf("e2e: close pcap: %w", cerr)
	}
	return werr
}

func writeRTPPCAP(w io.Writer, pt uint8, samples []int16) error {
	if pt != PayloadPCMU && pt != PayloadPCMA {
		return fmt.Errorf("%w: %d", ErrUnsupportedPT, pt)
	}
	le := binary.LittleEndian
	var gh [24]byte
	le.PutUint32(gh[0:], 0xa1b2c3d4) // microsecond timestamps
	le.PutUint16(gh[4:], 2)
	le.PutUint16(gh[6:], 4)
	le.PutUint32(gh[16:], 65535) // snaplen
	le.PutUint32(gh[20:], 1)     // LINKTYPE_ETHERNET
	if _, err := w.Write(gh[:]); err != nil {
		return fmt.Errorf("e2e: write pcap: %w", err)
	}
	const (
		srcPort = 6000
		dstPort = 6002
		ssrc    = 0x48544c4e
		ethLen  = 14
		ipLen   = 20
		udpLen  = 8
		rtpLen  = 12
	)
	pkt := make([]byte, ethLen+ipLen+udpLen+rtpLen+SamplesPerFrame)
	start := time.Unix(1_700_000_000, 0)
	for i := 0; i*SamplesPerFrame < len(samples); i++ {
		frame := samples[i*SamplesPerFrame : min((i+1)*SamplesPerFrame, len(samples))]
		payload, err := EncodeG711(pt, frame)
		if err != nil {
			return err
		}
		n := ethLen + ipLen + udpLen + rtpLen + len(payload)
		p := pkt[:n]
		clear(p)
		// Ethernet: locally administered MACs, IPv4 ethertype.
		copy(p[0:6], []byte{0x02, 0, 0, 0, 0, 2})
		copy(p[6:12], []byte{0x02, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(p[12:], 0x0800)
		ip := p[ethLen:]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen+udpLen+rtpLen+len(payload)))
		binary.BigEndian.PutUint16(ip[4:], uint16(i))
		ip[8] = 64
		ip[9] = 17 // UDP
		copy(ip[12:16], []byte{127, 0, 0, 1})
		copy(ip[16:20], []byte{127, 0, 0, 1})
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:ipLen]))
		udp := ip[ipLen:]
		binary.BigEndian.PutUint16(udp[0:], srcPort)
		binary.BigEndian.PutUint16(udp[2:], dstPort)
		binary.BigEndian.PutUint16(udp[4:], uint16(udpLen+rtpLen+len(payload)))
		// UDP checksum 0 (none): SIPp recomputes it anyway.
		rtp := udp[udpLen:]
		rtp[0] = 0x80
		rtp[1] = pt
		if i == 0 {
			rtp[1] |= 0x80 // marker on the first packet of the talkspurt
		}
		binary.BigEndian.PutUint16(rtp[2:], uint16(1000+i))
		binary.BigEndian.PutUint32(rtp[4:], uint32(160_000+i*SamplesPerFrame))
		binary.BigEndian.PutUint32(rtp[8:], ssrc)
		copy(rtp[rtpLen:], payload)

		ts := start.Add(time.Duration(i) * FrameDuration)
		var ph [16]byte
		le.PutUint32(ph[0:], uint32(ts.Unix()))
		le.PutUint32(ph[4:], uint32(ts.Nanosecond()/1000))
		le.PutUint32(ph[8:], uint32(n))
		le.PutUint32(ph[12:], uint32(n))
		if _, err := w.Write(ph[:]); err != nil {
			return fmt.Errorf("e2e: write pcap: %w", err)
		}
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("e2e: write pcap: %w", err)
		}
	}
	return nil
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// WriteWAV writes 16-bit PCM samples (interleaved when channels > 1) to a
// canonical WAV file, e.g. a source file for baresip's aufile module.
func WriteWAV(path string, samples []int16, rate, channels int) error {
	if channels < 1 {
		channels = 1
	}
	data := make([]byte, 44+2*len(samples))
	le := binary.LittleEndian
	copy(data[0:], "RIFF")
	le.PutUint32(data[4:], uint32(36+2*len(samples)))
	copy(data[8:], "WAVEfmt ")
	le.PutUint32(data[16:], 16)
	le.PutUint16(data[20:], 1)
	le.PutUint16(data[22:], uint16(channels))
	le.PutUint32(data[24:], uint32(rate))
	le.PutUint32(data[28:], uint32(rate*channels*2))
	le.PutUint16(data[32:], uint16(channels*2))
	le.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	le.PutUint32(data[40:], uint32(2*len(samples)))
	for i, s := range samples {
		le.PutUint16(data[44+2*i:], uint16(s))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("e2e: write wav: %w", err)
	}
	return nil
}

// WAVInfo describes the format of a WAV file.
type WAVInfo struct {
	Format   uint16 // 1 PCM, 6 A-law, 7 µ-law
	Rate     int
	Channels int
	Bits     int
}

// ReadWAV reads a WAV file of 16-bit PCM, 8-bit A-law or 8-bit µ-law samples
// and returns the samples of its first channel as 16-bit linear PCM, and the
// sample rate. It tolerates a file whose writer did not finish it (data
// chunk size 0 or larger than the file, as left by a killed baresip): it then
// reads to the end of the file.
func ReadWAV(path string) (samples []int16, rate int, err error) {
	samples, info, err := ReadWAVInfo(path)
	return samples, info.Rate, err
}

// ReadWAVInfo is ReadWAV that also returns the file's format.
func ReadWAVInfo(path string) ([]int16, WAVInfo, error) {
	return ReadWAVChannel(path, 0)
}

// ReadWAVChannel is ReadWAVInfo for channel ch (0 is left, 1 right).
func ReadWAVChannel(path string, ch int) ([]int16, WAVInfo, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, WAVInfo{}, fmt.Errorf("e2e: read wav: %w", err)
	}
	return parseWAV(raw, ch)
}

func parseWAV(raw []byte, ch int) ([]int16, WAVInfo, error) {
	h, err := audio.ReadWAVHeader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%w: %w", ErrBadWAV, err)
	}
	info := WAVInfo{Format: uint16(h.FormatTag), Rate: h.Rate, Channels: h.Channels, Bits: h.Bits}
	if !h.Decodable() {
		return nil, info, fmt.Errorf("%w: format %d, %d bits", ErrUnsupportedWAVFormat, info.Format, info.Bits)
	}
	// A writer that did not finish the file (a killed baresip) leaves the
	// data size 0 or too large: the audio is the rest of the file.
	end := h.DataOffset + h.DataSize
	if h.DataSize == 0 || end > int64(len(raw)) {
		end = int64(len(raw))
	}
	out, err := h.Decode(raw[h.DataOffset:end], ch)
	if err != nil {
		return nil, info, fmt.Errorf("%w: %w", ErrBadWAV, err)
	}
	return out, info, nil
}

// ToneLevel measures how strongly the tone freq is present in samples: the
// estimated peak amplitude of that sinusoid relative to full scale (a
// full-scale sine gives about 1.0, DefaultToneAmplitude about 0.3, silence
// and other tones about 0). It runs a Hann-windowed Goertzel filter over
// consecutive 50 ms blocks and returns the RMS of the block amplitudes, so
// gaps or phase jumps between packets do not cancel the measurement.
func ToneLevel(samples []int16, rate int, freq float64) float64 {
	block := rate / 20
	if block < 16 || len(samples) < block || rate <= 0 {
		return 0
	}
	win := make([]float64, block)
	var wsum float64
	for i := range win {
		win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(block-1))
		wsum += win[i]
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var acc float64
	nblocks := 0
	for off := 0; off+block <= len(samples); off += block {
		var s1, s2 float64
		for i := range block {
			x := float64(samples[off+i]) / 32768 * win[i]
			s0 := x + coeff*s1 - s2
			s2, s1 = s1, s0
		}
		power := s1*s1 + s2*s2 - coeff*s1*s2
		if power < 0 {
			power = 0
		}
		amp := 2 * math.Sqrt(power) / wsum
		acc += amp * amp
		nblocks++
	}
	return math.Sqrt(acc / float64(nblocks))
}

// MinToneLevel is the ToneLevel under which DominantTone reports no tone:
// about -46 dBFS.
const MinToneLevel = 0.005

// DominantTone returns the candidate frequency with the highest ToneLevel in
// samples, or 0 when none reaches MinToneLevel (silence, noise, or none of
// the candidates).
func DominantTone(samples []int16, rate int, candidates []float64) float64 {
	best, bestLevel := 0.0, MinToneLevel
	for _, f := range candidates {
		if l := ToneLevel(samples, rate, f); l >= bestLevel {
			best, bestLevel = f, l
		}
	}
	return best
}

// ActiveDuration returns how much of samples is not silent: the number of
// 20 ms frames whose RMS exceeds SilenceThreshold, times 20 ms.
func ActiveDuration(samples []int16, rate int) time.Duration {
	frame := rate / 50
	if frame <= 0 {
		return 0
	}
	active := 0
	for off := 0; off+frame <= len(samples); off += frame {
		var sum float64
		for _, s := range samples[off : off+frame] {
			sum += float64(s) * float64(s)
		}
		if math.Sqrt(sum/float64(frame)) > SilenceThreshold {
			active++
		}
	}
	return time.Duration(active) * FrameDuration
}
