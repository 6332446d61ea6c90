package cmd

import (
	"github.com/custodian-forensics/custodian/internal/units"
)

// sizeValue is a byte-size flag ("2GiB", "640MB", "0").
type sizeValue int64

func (s *sizeValue) Set(v string) error {
	n, err := units.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

func (s *sizeValue) String() string { return units.FormatExact(int64(*s)) }
func (s *sizeValue) Type() string   { return "size" }
