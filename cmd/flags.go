package cmd

import (
	"slices"

	"github.com/custodian-forensics/custodian/hashing"
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

// hashList is the --hash flag: "--hash md5 --hash sha1" selects both (the
// first value given replaces the default, later ones add to it), as does
// "--hash md5,sha1".
type hashList struct {
	set     *hashing.Set
	changed bool
}

func (h *hashList) Set(v string) error {
	var add hashing.Set
	if err := add.Set(v); err != nil {
		return err
	}
	if h.changed {
		for _, a := range add {
			if !h.set.Contains(a) {
				*h.set = append(*h.set, a)
			}
		}
		slices.Sort(*h.set)
		return nil
	}
	*h.set, h.changed = add, true
	return nil
}

func (h *hashList) String() string { return h.set.String() }
func (h *hashList) Type() string   { return "list" }
