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

// Constant chunks on the write side. The compressor makes one stored form
// per byte value (compressor.constant); once a worker has made it, a whole
// constant chunk need not travel to a worker at all: the writer checks the
// caller's bytes in place (one comparison pass, no copy into a job buffer,
// no channel hand-off) and queues a job that is already done, in stream
// order with the chunks in flight. On a mostly empty disk this is most
// chunks; on a multi-TiB sparse media it is what makes writing it take
// minutes, not hours.

// constantForm returns the shared stored form of chunk (a whole chunk of
// the caller's bytes) when it is constant and that form was made, else
// nil.
func (w *Writer) constantForm(chunk []byte) []byte {
	if w.l.comp.constLevel == 0 || w.comp == nil {
		return nil
	}
	p := w.comp.constant[chunk[0]].Load()
	if p == nil || len(*p) == 0 || !isConstant(chunk) {
		return nil
	}
	return *p
}

// submitConstant queues a whole constant chunk whose stored form is form.
func (w *Writer) submitConstant(form []byte) error {
	j, err := w.getJob()
	if err != nil {
		return err
	}
	// The job's input is never read for a shared form (appendStored and
	// storedLen use the form); its length is the chunk's media length.
	j.in = j.in[:w.l.chunkSize]
	j.out, j.shared, j.compressed = form, true, true
	j.done <- struct{}{}
	w.inflight = append(w.inflight, j)
	return nil
}
