package ewf

import "encoding/binary"

// Adler-32 (RFC 1950), 64 bytes a step. hash/adler32 adds one byte at a
// time (two dependent additions a byte), which made it the largest cost
// of reading an image after MD5 and SHA-1: every chunk is checked by it,
// raw chunks by their stored checksum and compressed ones by their zlib
// trailer. Here each 8-byte word is split into its even and odd bytes as
// four 16-bit lanes, summed lane-wise over eight words with plain
// additions; one multiplication per sum at the end of the step adds the
// lanes up (in the top lane, weighted where s2 needs it) without carries,
// every partial sum staying below 2^16. The result is exactly
// hash/adler32's (TestAdler32 compares them); 2.3× faster on this machine
// (7.0 against 3.0 GB/s, BenchmarkAdler32).

const (
	adlerMod = 65521
	// adlerMax is zlib's NMAX (5552, the most bytes after which s1 and s2
	// still fit 32 bits before the modulo) rounded down to whole 64-byte
	// steps.
	adlerMax = 5504
	lanes    = 0x00ff00ff00ff00ff
)

// adler32Checksum is hash/adler32.Checksum.
func adler32Checksum(p []byte) uint32 { return adler32Update(1, p) }

// adler32Update continues the checksum adler over p.
func adler32Update(adler uint32, p []byte) uint32 {
	s1, s2 := adler&0xffff, adler>>16
	for len(p) > 0 {
		block := p[:min(len(p), adlerMax)]
		p = p[len(block):]
		i := 0
		for ; i+64 <= len(block); i += 64 {
			// Eight words: vs sums their even and odd bytes by lane, us
			// sums vs as it was before each word (the bytes before it, for
			// s2's 8·s1 of every word), ev and od the even and odd bytes
			// for the weighted sum. Every lane stays below 2^16.
			b := block[i : i+64 : i+64]
			var vs, us uint64
			w0 := binary.LittleEndian.Uint64(b[0:])
			w1 := binary.LittleEndian.Uint64(b[8:])
			w2 := binary.LittleEndian.Uint64(b[16:])
			w3 := binary.LittleEndian.Uint64(b[24:])
			w4 := binary.LittleEndian.Uint64(b[32:])
			w5 := binary.LittleEndian.Uint64(b[40:])
			w6 := binary.LittleEndian.Uint64(b[48:])
			w7 := binary.LittleEndian.Uint64(b[56:])
			e0, o0 := w0&lanes, (w0>>8)&lanes
			e1, o1 := w1&lanes, (w1>>8)&lanes
			e2, o2 := w2&lanes, (w2>>8)&lanes
			e3, o3 := w3&lanes, (w3>>8)&lanes
			e4, o4 := w4&lanes, (w4>>8)&lanes
			e5, o5 := w5&lanes, (w5>>8)&lanes
			e6, o6 := w6&lanes, (w6>>8)&lanes
			e7, o7 := w7&lanes, (w7>>8)&lanes
			us += vs
			vs += e0 + o0
			us += vs
			vs += e1 + o1
			us += vs
			vs += e2 + o2
			us += vs
			vs += e3 + o3
			us += vs
			vs += e4 + o4
			us += vs
			vs += e5 + o5
			us += vs
			vs += e6 + o6
			us += vs
			vs += e7 + o7
			ev := e0 + e1 + e2 + e3 + e4 + e5 + e6 + e7
			od := o0 + o1 + o2 + o3 + o4 + o5 + o6 + o7
			const ones = 0x0001000100010001
			s2 += 64*s1 + 8*uint32((us*ones)>>48) + uint32((ev*0x0008000600040002)>>48) + uint32((od*0x0007000500030001)>>48)
			s1 += uint32((vs * ones) >> 48)
		}
		block = block[i:]
		for _, b := range block {
			s1 += uint32(b)
			s2 += s1
		}
		s1 %= adlerMod
		s2 %= adlerMod
	}
	return s2<<16 | s1
}
