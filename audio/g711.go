package audio

import "github.com/zaf/g711"

// Transcode converts G.711 payload bytes in place from one encoding to the other.
func Transcode(p []byte, from, to Encoding) {
	switch {
	case from == ULaw && to == ALaw:
		for i, b := range p {
			p[i] = g711.Ulaw2AlawFrame(b)
		}
	case from == ALaw && to == ULaw:
		for i, b := range p {
			p[i] = g711.Alaw2UlawFrame(b)
		}
	}
}

// Encode writes one G.711 byte per linear sample into dst.
func Encode(dst []byte, samples []int16, e Encoding) {
	if e == ALaw {
		for i, s := range samples {
			dst[i] = g711.EncodeAlawFrame(s)
		}
		return
	}
	for i, s := range samples {
		dst[i] = g711.EncodeUlawFrame(s)
	}
}

// Decode converts G.711 bytes to linear samples.
func Decode(dst []int16, p []byte, e Encoding) {
	if e == ALaw {
		for i, b := range p {
			dst[i] = g711.DecodeAlawFrame(b)
		}
		return
	}
	for i, b := range p {
		dst[i] = g711.DecodeUlawFrame(b)
	}
}
