//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package recording

import "encoding/binary"

// putPCM16 writes pcm as 16-bit little-endian samples into out
// (2*len(pcm) bytes).
func putPCM16(out []byte, pcm []int16) {
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
	}
}
