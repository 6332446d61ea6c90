package report

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestParseRejectsMalformedEvidence: a report's hashes and signer come from
// a file anyone may have edited. Parse must refuse values that verification
// would compare or print but that no acquisition writes.
func TestParseRejectsMalformedEvidence(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, want string
		edit       func(r *Report)
	}{
		{"upper-case hex", "hashes: md5 digest", func(r *Report) { r.Hashes["md5"] = "FEDCBA9876543210FEDCBA9876543210" }},
		{"short digest", "segment 1 (\"sdb.001\") hashes: sha256", func(r *Report) { r.Image.Segments[0].Hashes["sha256"] = "abab" }},
		{"long digest", "segment 2 (\"sdb.002\") hashes: md5", func(r *Report) { r.Image.Segments[1].Hashes["md5"] = sha256 }},
		{"not hex", "hash window 1 (offset 0) hashes: md5", func(r *Report) { r.HashWindows[0].Hashes["md5"] = "0011223344556677889900aabbccddgg" }},
		{"padded", "hashes: sha256", func(r *Report) { r.Hashes["sha256"] = " " + strings.Repeat("ef", 31) + "e " }},
		{"empty digest", "verification hashes: md5", func(r *Report) { r.Verification.Hashes["md5"] = "" }},
		{"terminal escape", `\x1b[2J`, func(r *Report) { r.Verification.Hashes["sha256"] = "\x1b[2J" + strings.Repeat("0", 60) }},
		{"unknown algorithm", `unknown hash algorithm "md4"`, func(r *Report) { r.Hashes["md4"] = "00112233445566778899aabbccddeeff" }},
		{"algorithm spelled otherwise", `unknown hash algorithm "SHA256"`, func(r *Report) { r.Image.Segments[0].Hashes["SHA256"] = sha256 }},
		{"sha1 of md5 length", "hashes: sha1", func(r *Report) { r.Hashes["sha1"] = "fedcba9876543210fedcba9876543210" }},
		{"sha512 of sha256 length", "hashes: sha512", func(r *Report) { r.Hashes["sha512"] = sha256 }},
		{"fingerprint not sha256", "signer: fingerprint", func(r *Report) { r.Signer.Fingerprint = "MD5:2b:ab:cd" }},
		{"fingerprint short", "signer: fingerprint", func(r *Report) { r.Signer.Fingerprint = "SHA256:fake" }},
		{"fingerprint padded", "signer: fingerprint", func(r *Report) { r.Signer.Fingerprint += "=" }},
		{"fingerprint not base64", "signer: fingerprint", func(r *Report) { r.Signer.Fingerprint = "SHA256:" + strings.Repeat("!", 43) }},
		{"fingerprint trailing bits", "signer: fingerprint", func(r *Report) {
			r.Signer.Fingerprint = r.Signer.Fingerprint[:len(r.Signer.Fingerprint)-1] + "x" // 'x' has low bits set
		}},
		{"fingerprint empty", "signer: fingerprint", func(r *Report) { r.Signer.Fingerprint = "" }},
		{"public key truncated", "signer: public key", func(r *Report) { r.Signer.PublicKey = "ssh-ed25519 AAAA" }},
		{"public key with comment", "not written as", func(r *Report) { r.Signer.PublicKey += " j.doe@lab" }},
		{"public key with options", "signer: public key", func(r *Report) { r.Signer.PublicKey = `command="rm -rf /" ` + r.Signer.PublicKey }},
		{"two public keys", "signer: public key", func(r *Report) { r.Signer.PublicKey += "\n" + r.Signer.PublicKey }},
		{"public key empty", "signer: no public key", func(r *Report) { r.Signer.PublicKey = "" }},
		{"key type not the key's", `key type "ssh-rsa"`, func(r *Report) { r.Signer.KeyType = "ssh-rsa" }},
		{"key type empty", "key type", func(r *Report) { r.Signer.KeyType = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport()
			tc.edit(r)
			b, err := Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(b)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrSchema) {
				t.Errorf("error %q does not mention %q (or claims another schema)", err, tc.want)
			}
			if strings.ContainsRune(err.Error(), 0x1b) {
				t.Errorf("error passes an escape character through: %q", err)
			}
		})
	}
}

func TestParseAcceptsWellFormedEvidence(t *testing.T) {
	r := sampleReport()
	r.Hashes["sha1"] = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	r.Hashes["sha512"] = strings.Repeat("0f", 64)
	r.Image.Segments[0].Hashes = nil
	r.Verification.Hashes = Hashes{}
	b, _ := Marshal(r)
	if _, err := Parse(b); err != nil {
		t.Errorf("a well-formed report: %v", err)
	}
	r.Signer = nil
	b, _ = Marshal(r)
	if _, err := Parse(b); err != nil {
		t.Errorf("an unsigned report: %v", err)
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Samsung SSD 870 EVO", "Samsung SSD 870 EVO"},
		{"naïve Ärger 日本語", "naïve Ärger 日本語"},
		{"esc\x1b[2Jclear", `esc\x1b[2Jclear`},
		{"bell\x07tab\tnl\ncr\r", `bell\x07tab\x09nl\x0acr\x0d`},
		{"del\x7f", `del\x7f`},
		{"c1\u009bcsi", `c1\u009bcsi`},
		{"invalid\xff\xfe", `invalid\xff\xfe`},
		{"file\u202etxt.exe", `file\u202etxt.exe`},
		{"\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`},
		{"\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"line\u2028sep", `line\u2028sep`},
		{"nb\u00a0sp", `nb\u00a0sp`},
		{"bom\ufeff", `bom\ufeff`},
		{"tag\U000e0041", `tag\U000e0041`},
		{`back\slash \x1b`, `back\\slash \\x1b`},
		{"emoji 🔒", "emoji 🔒"},
	} {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// unprintable undoes Printable, to show that it loses nothing.
func unprintable(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 >= len(s) {
			t.Fatalf("dangling backslash in %q", s)
		}
		n := map[byte]int{'\\': 0, 'x': 2, 'u': 4, 'U': 8}[s[i+1]]
		if s[i+1] == '\\' {
			b.WriteByte('\\')
			i += 2
			continue
		}
		if n == 0 || i+2+n > len(s) {
			t.Fatalf("bad escape at %d in %q", i, s)
		}
		v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
		if err != nil {
			t.Fatalf("bad escape at %d in %q", i, s)
		}
		if s[i+1] == 'x' {
			b.WriteByte(byte(v))
		} else {
			b.WriteRune(rune(v))
		}
		i += 2 + n
	}
	return b.String()
}

// FuzzPrintable: the output is valid UTF-8 without any character a terminal
// acts on, and it gives back the input exactly (nothing is lost or merged).
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]0;title\x07", "\xff", "a\u202eb", `\x1b`, "\u0085\u009b", "é\u2066x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Printable(s)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q: %q", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r >= 0x7f && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Fatalf("%U passed through in %q", r, out)
			}
		}
		if back := unprintable(t, out); back != s {
			t.Fatalf("Printable(%q) = %q reads back as %q", s, out, back)
		}
		if Printable(s) != out {
			t.Fatal("not deterministic")
		}
	})
}
