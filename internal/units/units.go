// Package units parses and formats byte sizes as examiners write them:
// "2GiB", "640MB", "4096", "1.5 TB". Binary (KiB, MiB, GiB, TiB) and decimal
// (kB/KB, MB, GB, TB) suffixes are both accepted and mean what they say;
// a bare "k", "m", "g", "t" or "K", "M", "G", "T" is binary, as in dd.
package units

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// ErrSyntax is wrapped by every ParseSize error.
var ErrSyntax = errors.New("invalid size")

var suffixes = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1000 * 1000 * 1000 * 1000,
	"p": 1 << 50, "pib": 1 << 50, "pb": 1000 * 1000 * 1000 * 1000 * 1000,
}

// ParseSize parses a non-negative byte count with an optional unit suffix.
// Fractions are allowed when the result is a whole number of bytes
// ("1.5KiB" = 1536, "0.5b" is an error).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" || strings.Count(num, ".") > 1 || num == "." {
		return 0, fmt.Errorf("%w %q: want a number with an optional unit, e.g. 2GiB, 640MB, 4096", ErrSyntax, s)
	}
	mult, ok := suffixes[unit]
	if !ok {
		return 0, fmt.Errorf("%w %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)", ErrSyntax, s, t[i:])
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrSyntax, s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("%w %q: not a whole number of bytes", ErrSyntax, s)
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > math.MaxInt64/2 {
		return 0, fmt.Errorf("%w %q: too large", ErrSyntax, s)
	}
	return n.Int64(), nil
}

// FormatSize renders n for people: exact bytes below 1 KiB, otherwise a
// binary unit with up to two decimals ("1.50 GiB").
func FormatSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	u := -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", v), "0"), ".0") + " " + units[u]
}

// FormatShort renders n for a screen line: bytes below 1 KiB, otherwise a
// binary unit with one decimal ("16.0 MiB").
func FormatShort(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// FormatExact renders n so that ParseSize gives n back: the largest binary
// unit that divides it ("2GiB", "640MiB"), or plain bytes ("12345").
func FormatExact(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.suffix)
		}
	}
	return fmt.Sprintf("%d", n)
}
