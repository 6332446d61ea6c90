package ewf

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/format/formattest"
	"github.com/custodian-forensics/custodian/report"
)

// TestWriterMemoryBounded: writing 256 MiB of random data (every chunk
// deflated, none smaller: the worst case for the compressor) keeps the
// heap far below the media size: the writer holds one group, the chunks in
// flight and nothing else.
func TestWriterMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB")
	}
	const size = 256 << 20
	s := newSpec(t, size, 512, 0, "fast")
	w, err := Format{}.Create(s)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4<<20)
	rng := rand.NewChaCha8([32]byte{1})
	runtime.GC()
	var base, ms runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	for off := 0; off < size; off += len(buf) {
		rng.Read(buf)
		if err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
		if off%(32<<20) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if _, err := w.Finish(format.Summary{Hashes: report.Hashes{}, Unreadable: []report.Range{}}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use: peak %d MiB (at start %d MiB); Sys %d MiB", peak>>20, base.HeapInuse>>20, ms.Sys>>20)
	if peak > 100<<20 || ms.Sys > 200<<20 {
		t.Errorf("heap in use reached %d MiB, Sys %d MiB, for a 256 MiB media", peak>>20, ms.Sys>>20)
	}
}

func benchMedia() []byte { return formattest.Media(64<<20, 3) }

func BenchmarkWrite(b *testing.B) {
	data := benchMedia()
	for _, comp := range []string{"none", "empty", "fast", "best"} {
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var size int64
			for b.Loop() {
				b.StopTimer()
				s := newSpec(b, int64(len(data)), 512, 0, comp)
				b.StartTimer()
				w, err := Format{}.Create(s)
				if err != nil {
					b.Fatal(err)
				}
				for p := data; len(p) > 0; p = p[min(len(p), 1<<20):] {
					if err := w.Write(p[:min(len(p), 1<<20)]); err != nil {
						b.Fatal(err)
					}
				}
				segs, err := w.Finish(format.Summary{Hashes: report.Hashes{}, Unreadable: []report.Range{}})
				if err != nil {
					b.Fatal(err)
				}
				size = segs[0].FileSize
				b.StopTimer()
				os.RemoveAll(s.Dir)
				b.StartTimer()
			}
			b.ReportMetric(float64(size)/float64(len(data)), "ratio")
		})
	}
}

type discardVisitor struct{}

func (discardVisitor) BeginFile(int) io.Writer   { return io.Discard }
func (discardVisitor) EndFile(int, int64, error) {}
func (discardVisitor) Media([]byte) error        { return nil }

func BenchmarkScan(b *testing.B) {
	data := benchMedia()
	for _, comp := range []string{"none", "fast"} {
		b.Run(comp, func(b *testing.B) {
			s := newSpec(b, int64(len(data)), 512, 16<<20, comp)
			im := writeImage(b, s, data, nil)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := (Format{}).Scan(context.Background(), im.root, im.files, discardVisitor{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadAt(b *testing.B) {
	data := benchMedia()
	s := newSpec(b, int64(len(data)), 512, 0, "fast")
	im := writeImage(b, s, data, nil)
	r, err := Format{}.Open(im.root, im.files)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for off := int64(0); off < r.Size(); off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkWriteConstant writes 1 GiB of zeros into a set laid out for a
// 4 TiB media (64 KiB chunks): the writer's constant-chunk path, which a
// multi-TiB sparse disk mostly takes (TestLargeSparseEWF).
func BenchmarkWriteConstant(b *testing.B) {
	const written = 1 << 30
	buf := make([]byte, 256<<10) // as the pipeline's reads
	b.SetBytes(written)
	for b.Loop() {
		b.StopTimer()
		s := newSpec(b, 4<<40, 512, 0, "fast")
		s.SegmentHashes = nil
		b.StartTimer()
		w, err := Format{}.Create(s)
		if err != nil {
			b.Fatal(err)
		}
		for range written / len(buf) {
			if err := w.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Checkpoint(); err != nil {
			b.Fatal(err)
		}
		w.Abort()
		b.StopTimer()
		os.RemoveAll(s.Dir)
		b.StartTimer()
	}
}
