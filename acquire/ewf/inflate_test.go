package ewf

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zlib"
)

func zlibOf(t *testing.T, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zlib.NewWriterLevel(&b, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(p)
	zw.Close()
	return b.Bytes()
}

// TestInflateFraming: the zlib framing done by inflate accepts what zlib
// writes and nothing damaged: a wrong checksum, a stream cut anywhere, a
// bad header, a preset dictionary, a stream longer than the chunk.
func TestInflateFraming(t *testing.T) {
	const cs = 32768
	text := bytes.Repeat([]byte("custodian forensic image text "), cs/30+1)[:cs]
	good := zlibOf(t, text)
	var z inflater
	dst := make([]byte, cs)
	if got, err := z.decode(good, true, cs, cs, false, dst); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("a good stream: %v", err)
	}
	// Bytes after the checksum are ignored, as by zlib readers.
	if got, err := z.decode(append(bytes.Clone(good), 0, 0, 0), true, cs, cs, false, dst); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("a good stream with trailing bytes: %v", err)
	}
	bad := func(name string, stored []byte, want error) {
		t.Helper()
		if _, err := z.decode(stored, true, cs, cs, false, dst); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	sum := bytes.Clone(good)
	sum[len(sum)-1] ^= 1
	bad("wrong checksum", sum, errChunkZlib)
	for cut := range len(good) {
		bad("cut", good[:cut], errChunkZlib)
	}
	hdr := bytes.Clone(good)
	hdr[0] = 0x79
	bad("bad header", hdr, errChunkZlib)
	dict := bytes.Clone(good)
	dict[1] |= 0x20
	dict[1] += byte(31 - (uint16(dict[0])<<8|uint16(dict[1]))%31) // a valid FCHECK with FDICT
	bad("preset dictionary", dict, errChunkZlib)
	bad("longer than the chunk", zlibOf(t, append(bytes.Clone(text), 'x')), errChunkLong)
	// The short last chunk of a media: a stream shorter than the chunk.
	if got, err := z.decode(zlibOf(t, text[:1000]), true, 1000, cs, true, dst); err != nil || !bytes.Equal(got, text[:1000]) {
		t.Errorf("a short last chunk: %v", err)
	}
}

// TestConstantChunkCache: a stored constant chunk seen once is served
// from the cache afterwards; the same stored bytes with one byte changed
// are inflated (and found damaged, as a rule), never served as the cached
// chunk.
func TestConstantChunkCache(t *testing.T) {
	const cs = 32768
	for _, v := range []byte{0, 0xff, 'A'} {
		chunk := bytes.Repeat([]byte{v}, cs)
		stored := zlibOf(t, chunk)
		if len(stored) > constantMaxStored(cs) {
			t.Fatalf("a constant chunk deflates to %d bytes, above the cache's %d", len(stored), constantMaxStored(cs))
		}
		var z inflater
		dst := make([]byte, cs)
		for i := range 3 {
			for k := range dst {
				dst[k] = 0x5a // what the cache does not fill would show
			}
			got, err := z.decode(stored, true, cs, cs, false, dst)
			if err != nil || !bytes.Equal(got, chunk) {
				t.Fatalf("value %#x, read %d: %v", v, i, err)
			}
			if _, ok := z.constants[string(stored)]; !ok {
				t.Fatalf("value %#x: not cached after read %d", v, i)
			}
		}
		// As a short last chunk of the media: the cached length is
		// checked like an inflated one.
		if got, err := z.decode(stored, true, 512, cs, true, dst); err != nil || !bytes.Equal(got, chunk[:512]) {
			t.Errorf("value %#x as the last chunk: %v", v, err)
		}
		if _, err := z.decode(stored, true, 512, cs, false, dst); !errors.Is(err, errChunkSize) {
			t.Errorf("value %#x where 512 bytes are wanted: %v, want a size error", v, err)
		}
		for i := range stored {
			// Whatever a fresh inflater makes of the changed bytes (an
			// error, or for a flip in the padding bits of the last byte
			// the same chunk), the caching one makes of them too.
			changed := bytes.Clone(stored)
			changed[i] ^= 0x10
			var fresh inflater
			want, werr := fresh.decode(changed, true, cs, cs, false, make([]byte, cs))
			got, err := z.decode(changed, true, cs, cs, false, dst)
			if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
				t.Errorf("value %#x, byte %d changed: %v, inflating it gives %v", v, i, err, werr)
			}
		}
	}
}
