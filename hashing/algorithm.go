package hashing

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
)

// Algorithm is a hash algorithm custodian can compute.
type Algorithm int

// The algorithms, in their canonical order (the order of report fields and
// of the default selection).
const (
	MD5 Algorithm = iota + 1
	SHA1
	SHA256
	SHA512
)

// ErrUnknownAlgorithm is returned for a name that is not an algorithm.
var ErrUnknownAlgorithm = errors.New("unknown hash algorithm")

var names = map[Algorithm]string{MD5: "md5", SHA1: "sha1", SHA256: "sha256", SHA512: "sha512"}

// All returns every supported algorithm in canonical order.
func All() Set { return Set{MD5, SHA1, SHA256, SHA512} }

// String returns the stable name used in reports, journals and flags.
func (a Algorithm) String() string {
	if n, ok := names[a]; ok {
		return n
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// New returns a fresh hash.Hash for a. It panics for an invalid Algorithm,
// which only a programming error can produce.
func (a Algorithm) New() hash.Hash {
	switch a {
	case MD5:
		return md5.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case SHA512:
		return sha512.New()
	}
	panic("hashing: invalid algorithm " + a.String())
}

// ParseAlgorithm parses a name such as "sha256" (case-insensitive; "sha-256"
// is accepted too).
func ParseAlgorithm(name string) (Algorithm, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "")
	for a, s := range names {
		if s == n {
			return a, nil
		}
	}
	return 0, fmt.Errorf("%w %q (supported: md5, sha1, sha256, sha512)", ErrUnknownAlgorithm, name)
}

// Set is a selection of algorithms without duplicates, kept in canonical
// order. It implements pflag.Value so "--hash md5,sha256" parses itself.
type Set []Algorithm

// ParseSet parses a comma-separated list such as "md5,sha1,sha256".
func ParseSet(list string) (Set, error) {
	var s Set
	if err := s.Set(list); err != nil {
		return nil, err
	}
	return s, nil
}

// Set replaces the selection with the comma-separated list v.
func (s *Set) Set(v string) error {
	var out Set
	for _, part := range strings.Split(v, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		a, err := ParseAlgorithm(part)
		if err != nil {
			return err
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return fmt.Errorf("no hash algorithm given (supported: md5, sha1, sha256, sha512)")
	}
	slices.Sort(out)
	*s = out
	return nil
}

// String returns the list as "md5,sha256".
func (s *Set) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Names(), ",")
}

// Type names the flag value's type in help output.
func (s *Set) Type() string { return "list" }

// Names returns the algorithms' stable names in canonical order.
func (s Set) Names() []string {
	out := make([]string, len(s))
	for i, a := range s {
		out[i] = a.String()
	}
	return out
}

// Contains reports whether a is selected.
func (s Set) Contains(a Algorithm) bool { return slices.Contains(s, a) }
