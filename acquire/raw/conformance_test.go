package raw

import (
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format/formattest"
)

func TestConformance(t *testing.T) {
	formattest.Run(t, Format{}, formattest.Options{
		KeptReader:   true,
		SegmentSizes: []int64{1, 4096, 100_000, 1 << 20},
		Lengths:      []int64{0, 1, 511, 512, 4096, 65535, 300_001, 1<<20 + 1536},
	})
}
