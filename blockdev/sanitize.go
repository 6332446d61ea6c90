package blockdev

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIdentityLen bounds, in bytes, every identity string (vendor, model,
// serial, WWID) after [Sanitize].
const MaxIdentityLen = 128

// Sanitize makes an identity string read from a device safe to print, log
// and sign. Such strings come from the device's firmware and are untrusted:
// they may hold control characters (terminal escapes), invalid UTF-8 or be
// absurdly long. Sanitize trims surrounding white space and NUL padding,
// writes a backslash as \\, every invalid byte as \xNN and every
// non-printable rune as \xNN or \uNNNN (so distinct inputs stay distinct),
// and cuts the result to at most [MaxIdentityLen] bytes, ending in "…" when
// cut. The result is valid, printable UTF-8.
func Sanitize(s string) string {
	return sanitizeN(s, MaxIdentityLen)
}

func sanitizeN(s string, limit int) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r == 0 || unicode.IsSpace(r) })
	const ellipsis = "…"
	var b strings.Builder
	cut := -1 // length of b when it last had room for the ellipsis
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = `\x` + hex2(s[i])
		case r == '\\':
			piece = `\\`
		case r == ' ' || (unicode.IsPrint(r) && r != utf8.RuneError):
			piece = s[i : i+size]
		case r < 0x100:
			piece = `\x` + hex2(byte(r))
		case r < 0x10000:
			piece = `\u` + hex2(byte(r>>8)) + hex2(byte(r))
		default:
			piece = `\U` + hex2(byte(r>>24)) + hex2(byte(r>>16)) + hex2(byte(r>>8)) + hex2(byte(r))
		}
		if b.Len()+len(piece) > limit {
			// Too long: cut at the last piece boundary that leaves room
			// for the ellipsis.
			out := b.String()
			if cut < 0 {
				cut = 0
			}
			return out[:cut] + ellipsis
		}
		if b.Len() <= limit-len(ellipsis) {
			cut = b.Len()
		}
		b.WriteString(piece)
		if b.Len() <= limit-len(ellipsis) {
			cut = b.Len()
		}
		i += size
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
