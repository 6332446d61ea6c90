package hashing

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Known-answer vectors (FIPS 180 / RFC 1321 examples).
var vectors = []struct {
	in   string
	want Sums
}{
	{"", Sums{
		"md5":    "d41d8cd98f00b204e9800998ecf8427e",
		"sha1":   "da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha512": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
	}},
	{"abc", Sums{
		"md5":    "900150983cd24fb0d6963f7d28e17f72",
		"sha1":   "a9993e364706816aba3e25717850c26c9cd0d89d",
		"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	}},
}

func TestKnownAnswers(t *testing.T) {
	for _, v := range vectors {
		m := NewMulti(All())
		m.Write([]byte(v.in))
		if diff := cmp.Diff(v.want, m.Sums()); diff != "" {
			t.Errorf("Multi(%q) (-want +got):\n%s", v.in, diff)
		}
		p := NewParallel(All())
		p.Write([]byte(v.in))
		if diff := cmp.Diff(v.want, p.Sums()); diff != "" {
			t.Errorf("Parallel(%q) (-want +got):\n%s", v.in, diff)
		}
		p.Close()
	}
}

// TestAlgorithmNameStability pins the names written into reports and
// journals: changing one breaks every report already handed to a court.
func TestAlgorithmNameStability(t *testing.T) {
	want := map[Algorithm]string{MD5: "md5", SHA1: "sha1", SHA256: "sha256", SHA512: "sha512"}
	for a, n := range want {
		if a.String() != n {
			t.Errorf("%d.String() = %q, want %q", int(a), a.String(), n)
		}
	}
	if got := All().Names(); !cmp.Equal(got, []string{"md5", "sha1", "sha256", "sha512"}) {
		t.Errorf("All() = %v", got)
	}
}

func TestParseSet(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"md5", []string{"md5"}, false},
		{"sha256,md5", []string{"md5", "sha256"}, false},
		{"SHA-256, sha1 ,md5,md5", []string{"md5", "sha1", "sha256"}, false},
		{"sha512", []string{"sha512"}, false},
		{"crc32", nil, true},
		{"", nil, true},
		{",", nil, true},
		{"md5,blake3", nil, true},
	} {
		s, err := ParseSet(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseSet(%q) err = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && !cmp.Equal(s.Names(), tc.want) {
			t.Errorf("ParseSet(%q) = %v, want %v", tc.in, s.Names(), tc.want)
		}
	}
}

// TestStateRoundTrip: hashing A, saving, restoring into a fresh Multi and
// hashing B gives the hash of A+B.
func TestStateRoundTrip(t *testing.T) {
	a, b := make([]byte, 100_003), make([]byte, 77_777)
	rand.Read(a)
	rand.Read(b)
	whole := NewMulti(All())
	whole.Write(a)
	whole.Write(b)

	first := NewMulti(All())
	first.Write(a)
	st, err := first.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	second := NewMulti(All())
	if err := second.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	second.Write(b)
	if diff := cmp.Diff(whole.Sums(), second.Sums()); diff != "" {
		t.Errorf("resumed sums differ (-whole +resumed):\n%s", diff)
	}
	if second.Len() != int64(len(a)+len(b)) {
		t.Errorf("Len = %d", second.Len())
	}
	// A state for other algorithms is refused.
	md5only := NewMulti(Set{MD5})
	if err := md5only.UnmarshalState(st); err == nil {
		t.Error("restoring a 4-algorithm state into an md5-only Multi succeeded")
	}
}

func TestParallelMatchesMulti(t *testing.T) {
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	m := NewMulti(All())
	p := NewParallel(All())
	defer p.Close()
	for off := 0; off < len(data); off += 65536 + 3 {
		end := min(off+65536+3, len(data))
		m.Write(data[off:end])
		p.Write(data[off:end])
	}
	if diff := cmp.Diff(m.Sums(), p.Sums()); diff != "" {
		t.Error(diff)
	}
	if p.Len() != int64(len(data)) {
		t.Errorf("Len = %d", p.Len())
	}
}

func BenchmarkAlgorithm(b *testing.B) {
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for _, a := range All() {
		b.Run(a.String(), func(b *testing.B) {
			h := a.New()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				h.Write(buf)
			}
		})
	}
}

func BenchmarkParallel(b *testing.B) {
	buf := make([]byte, 4<<20)
	rand.Read(buf)
	for _, set := range []Set{{MD5, SHA1, SHA256}, All()} {
		b.Run(fmt.Sprint(set.Names()), func(b *testing.B) {
			p := NewParallel(set)
			defer p.Close()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				p.Write(buf)
			}
		})
	}
}
