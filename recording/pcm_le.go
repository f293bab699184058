//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package recording

import "unsafe"

// putPCM16 writes pcm as 16-bit little-endian samples into out
// (2*len(pcm) bytes): on a little-endian machine the samples are already
// laid out that way, so it is one copy rather than a store per sample
// (the per-sample loop was 4% of Hotline's CPU under SIPp load).
func putPCM16(out []byte, pcm []int16) {
	if len(pcm) == 0 {
		return
	}
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&pcm[0])), 2*len(pcm)))
}
