package ewf

import (
	"bytes"
	"hash/adler32"
	"math/rand/v2"
	"testing"
)

// TestAdler32 compares adler32Checksum with hash/adler32 on every length
// up to a few blocks, on random bytes and on the worst case for overflow
// (every byte 0xff), and across odd starts.
func TestAdler32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 3*adlerMax+100)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	ff := bytes.Repeat([]byte{0xff}, 3*adlerMax+100)
	for _, data := range [][]byte{random, ff, make([]byte, 3*adlerMax+100)} {
		for n := 0; n <= len(data); n += 1 + n/64 {
			for _, start := range []int{0, 1, 7} {
				p := data[min(start, n):n]
				if got, want := adler32Checksum(p), adler32.Checksum(p); got != want {
					t.Fatalf("%d bytes from %d (first %#x): %#08x, want %#08x", len(p), start, data[0], got, want)
				}
			}
		}
	}
	big := bytes.Repeat(ff, 100) // many blocks of the largest values
	if got, want := adler32Checksum(big), adler32.Checksum(big); got != want {
		t.Fatalf("%d bytes of 0xff: %#08x, want %#08x", len(big), got, want)
	}
}

func BenchmarkAdler32(b *testing.B) {
	p := make([]byte, 32<<10)
	for i := range p {
		p[i] = byte(i * 7)
	}
	b.Run("ewf", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			adler32Checksum(p)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			adler32.Checksum(p)
		}
	})
}
