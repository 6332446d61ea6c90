package ewf

// Constant chunks on the read side. A writer stores every constant chunk
// of one byte value (zeros, on most disks) as the same compressed bytes:
// custodian makes one compressed form per byte value, libewf and other
// deflaters give the same output for the same input. An inflater that has
// inflated and checked such a stored form once remembers it (its bytes,
// the chunk length and the byte value) and, when it meets the same stored
// bytes again, fills the chunk with the value instead of inflating it
// again: the stored bytes are compared in full, so this is exactly what
// inflating them would give, checksum included.

// constantMaxStored is the largest stored form looked up: a constant chunk
// deflates to about 1/1000 of its size (a 32 KiB chunk to a few dozen
// bytes, the largest, 16 MiB, to about 16 KiB), other chunks seldom come
// near, and a stored form this small costs nothing to compare.
func constantMaxStored(chunkSize int) int { return max(64, chunkSize/512) }

// constantCacheSize bounds the stored forms one inflater remembers (a few
// per byte value seen: one writer's forms, plus the short last chunk's).
const constantCacheSize = 64

type constantChunk struct {
	n   int  // inflated length
	val byte // every byte of it
}

// constantHit returns the inflated chunk for a stored form seen before as
// a constant chunk, filled into dst.
func (z *inflater) constantHit(stored, dst []byte) ([]byte, bool) {
	if len(stored) > constantMaxStored(cap(dst)) || z.constants == nil {
		return nil, false
	}
	c, ok := z.constants[string(stored)]
	if !ok || c.n > cap(dst) {
		return nil, false
	}
	out := dst[:c.n]
	fill(out, c.val)
	return out, true
}

// constantLearn remembers stored when it inflated (and checked) to a
// constant chunk data.
func (z *inflater) constantLearn(stored, data []byte) {
	if len(stored) > constantMaxStored(cap(data)) || !isConstant(data) {
		return
	}
	if z.constants == nil || len(z.constants) >= constantCacheSize {
		z.constants = make(map[string]constantChunk, constantCacheSize)
	}
	z.constants[string(stored)] = constantChunk{n: len(data), val: data[0]}
}

// fill sets every byte of b to v.
func fill(b []byte, v byte) {
	if v == 0 {
		clear(b)
		return
	}
	if len(b) == 0 {
		return
	}
	b[0] = v
	for k := 1; k < len(b); k *= 2 {
		copy(b[k:], b[:k])
	}
}
