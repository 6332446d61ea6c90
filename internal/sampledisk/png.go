package sampledisk

import (
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
)

// makePNG encodes an 8-bit RGB PNG with uncompressed (stored) deflate
// blocks. It does not use image/png or compress/flate, whose output may
// change between Go versions.
func makePNG(w, h int, pix func(x, y int) (r, g, b byte), comment string) []byte {
	raw := make([]byte, 0, h*(1+3*w))
	for y := range h {
		raw = append(raw, 0) // filter: none
		for x := range w {
			r, g, b := pix(x, y)
			raw = append(raw, r, g, b)
		}
	}
	z := []byte{0x78, 0x01} // zlib header: deflate, 32 KiB window, no dict
	for off := 0; ; {
		n := min(len(raw)-off, 65535)
		final := byte(0)
		if off+n == len(raw) {
			final = 1
		}
		z = append(z, final, byte(n), byte(n>>8), byte(^n), byte(^n>>8))
		z = append(z, raw[off:off+n]...)
		off += n
		if final == 1 {
			break
		}
	}
	z = binary.BigEndian.AppendUint32(z, adler32.Checksum(raw))

	out := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		start := len(out)
		out = append(out, typ...)
		out = append(out, data...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit, RGB, deflate, no filter, no interlace
	chunk("IHDR", ihdr)
	chunk("tEXt", []byte("Comment\x00"+comment))
	chunk("IDAT", z)
	chunk("IEND", nil)
	return out
}

// gradientPNG is PHOTOS/GRADIENT.PNG on volume 2.
func gradientPNG() []byte {
	return makePNG(64, 48, func(x, y int) (byte, byte, byte) {
		return byte(x * 4), byte(y * 5), byte(255 - x*2)
	}, "custodian sample disk: GRADIENT.PNG on EVIDENCE2")
}

// lostPNG lies in unallocated space between the partitions.
func lostPNG() []byte {
	return makePNG(32, 32, func(x, y int) (byte, byte, byte) {
		if (x/4+y/4)%2 == 0 {
			return 0xC0, 0x57, 0x0D
		}
		return 0xF0, 0xF0, 0xF0
	}, "custodian sample disk: a lost PNG in unallocated space at LBA 8208")
}
