package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s safe to print on a terminal: every character that is
// not printable is escaped, so evidence (a model string, a case note, a
// file name from a report) can neither move the cursor, recolour or clear
// the screen, nor reorder the text around it. Escaped are the C0 controls
// (tab and newline included), DEL and ESC, the C1 controls, the bidi
// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), every
// other rune that unicode.IsPrint refuses (format characters such as
// U+200B, line and paragraph separators, non-ASCII spaces) and bytes that
// are not valid UTF-8. ASCII controls and invalid bytes become \xNN, other
// runes \uNNNN or \UNNNNNNNN, and a backslash becomes \\, so distinct
// inputs stay distinct. Everything else, non-ASCII letters included, is
// kept as it is.
func Printable(s string) string {
	clean := true
	for i := 0; i < len(s) && clean; {
		r, size := utf8.DecodeRuneInString(s[i:])
		clean = keepRune(r, size)
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case keepRune(r, size):
			b.WriteString(s[i : i+size])
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	return b.String()
}

// keepRune reports whether Printable keeps the rune r (of size bytes in
// the input) as it is.
func keepRune(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1, r == '\\':
		return false
	case r == ' ':
		return true
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return false // C0, DEL, C1
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return false // bidi embeddings, overrides and isolates
	}
	return unicode.IsPrint(r)
}
