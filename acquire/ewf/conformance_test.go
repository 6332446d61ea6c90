package ewf

import (
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format/formattest"
)

func TestConformance(t *testing.T) {
	formattest.Run(t, Format{}, formattest.Options{
		WholeSectors: true,
		KeptReader:   true,
		SectorSizes:  []int{512, 4096},
		Compressions: []string{"none", "empty", "fast", "best"},
		SegmentSizes: []int64{80_000, 300_000},
		Lengths:      []int64{0, 512, 4096, 65535, 300_001, 1<<20 + 1536},
	})
}
