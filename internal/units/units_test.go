package units

import (
	"errors"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"4096", 4096, false},
		{"2GiB", 2 << 30, false},
		{"2gib", 2 << 30, false},
		{"640MB", 640_000_000, false},
		{"640MiB", 640 << 20, false},
		{"1.5KiB", 1536, false},
		{"1 TB", 1_000_000_000_000, false},
		{"4k", 4096, false},
		{"512B", 512, false},
		{"", 0, true},
		{"GiB", 0, true},
		{"-1", 0, true},
		{"1.2.3", 0, true},
		{"0.5", 0, true},
		{"2XB", 0, true},
		{"99999999999PiB", 0, true},
		{"1e3", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseSize(%q) err = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseSize(%q) error %v does not wrap ErrSyntax", tc.in, err)
		}
		if got != tc.want {
			t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 2 << 30: "2 GiB", 8388608 + 512: "8 MiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"2GiB", "640MB", "0", "1.5KiB", " 7 tb ", "1..", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Fatalf("ParseSize(%q): error %v does not wrap ErrSyntax", s, err)
		}
	})
}

func TestFormatExactRoundTrips(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1", 12345: "12345", 4096: "4KiB", 2 << 30: "2GiB", 640 << 20: "640MiB", 640_000_000: "625000KiB", 3 << 40: "3TiB"} {
		got := FormatExact(n)
		if got != want {
			t.Errorf("FormatExact(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseSize(got); err != nil || back != n {
			t.Errorf("ParseSize(FormatExact(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestFormatShort(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		16 << 20: "16.0 MiB", 1<<20 - 1: "1024.0 KiB", 3 << 40: "3.0 TiB", 1 << 62: "4.0 EiB",
	} {
		if got := FormatShort(n); got != want {
			t.Errorf("FormatShort(%d) = %q, want %q", n, got, want)
		}
	}
}
