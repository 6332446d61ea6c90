package report

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an OpenSSH allowed_signers file (see
// ssh-keygen(1), "ALLOWED SIGNERS"):
//
//	principals [options] keytype base64-key [comment]
//
// Principals is the comma-separated list of patterns (* and ?, ! negates).
// The options understood are namespaces="…", valid-after="…",
// valid-before="…" and cert-authority; any other option makes the file
// invalid, as it does for ssh-keygen.
type AllowedSigner struct {
	Line          int
	Principals    string
	Namespaces    string // pattern list; "" means any namespace
	CertAuthority bool
	ValidAfter    time.Time // zero: no limit
	ValidBefore   time.Time // zero: no limit
	Key           ssh.PublicKey
}

// ParseAllowedSigners parses an allowed_signers file. Comments (#) and blank
// lines are skipped; any malformed line is an error naming its line number.
func ParseAllowedSigners(b []byte) ([]AllowedSigner, error) {
	var out []AllowedSigner
	for i, raw := range bytes.Split(b, []byte("\n")) {
		line := strings.TrimSpace(strings.TrimSuffix(string(raw), "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		a, err := parseAllowedSigner(line)
		if err != nil {
			return nil, fmt.Errorf("allowed signers line %d: %w", i+1, err)
		}
		a.Line = i + 1
		out = append(out, a)
	}
	return out, nil
}

func parseAllowedSigner(line string) (AllowedSigner, error) {
	var a AllowedSigner
	principals, rest, err := cutToken(line)
	if err != nil {
		return a, err
	}
	if principals == "" {
		return a, fmt.Errorf("no principals")
	}
	a.Principals = principals
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return a, fmt.Errorf("no valid public key: %w", err)
	}
	a.Key = key
	for _, o := range options {
		name, val, hasVal := strings.Cut(o, "=")
		if hasVal {
			if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
				return a, fmt.Errorf("option %s: value must be in double quotes", name)
			}
			val = val[1 : len(val)-1]
		}
		switch strings.ToLower(name) {
		case "cert-authority":
			a.CertAuthority = true
		case "namespaces":
			a.Namespaces = val
		case "valid-after":
			if a.ValidAfter, err = parseSSHTime(val); err != nil {
				return a, fmt.Errorf("valid-after: %w", err)
			}
		case "valid-before":
			if a.ValidBefore, err = parseSSHTime(val); err != nil {
				return a, fmt.Errorf("valid-before: %w", err)
			}
		default:
			return a, fmt.Errorf("unsupported option %q", name)
		}
	}
	return a, nil
}

// cutToken splits off the first whitespace-delimited token, which may be
// enclosed in double quotes.
func cutToken(s string) (tok, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return "", "", fmt.Errorf("unterminated quote")
		}
		return s[1 : end+1], strings.TrimLeft(s[end+2:], " \t"), nil
	}
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", nil
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), nil
}

// parseSSHTime parses YYYYMMDD[HHMM[SS]][Z], local time unless Z, as
// ssh-keygen does.
func parseSSHTime(s string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		s, loc = s[:len(s)-1], time.UTC
	}
	layout := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}[len(s)]
	if layout == "" {
		return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", s)
	}
	return time.ParseInLocation(layout, s, loc)
}

// matchPatternList reports whether s matches the comma-separated pattern
// list: at least one positive pattern matches and no negated one does
// (OpenSSH's match_pattern_list, case-sensitive).
func matchPatternList(s, list string) bool {
	matched := false
	for _, p := range strings.Split(list, ",") {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if !matchPattern(s, p) {
			continue
		}
		if neg {
			return false
		}
		matched = true
	}
	return matched
}

// matchPattern matches OpenSSH wildcards, byte by byte: * any string, ?
// one byte, everything else literally.
func matchPattern(s, p string) bool {
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// allows reports whether the entry admits a signature by key in namespace
// ns at time now, for identity (any principal when identity is "").
func (a AllowedSigner) allows(identity string, key ssh.PublicKey, ns string, now time.Time) bool {
	if a.CertAuthority {
		// Such lines trust certificates signed by the key; report
		// signatures are made by plain keys, which these lines never admit.
		return false
	}
	if !bytes.Equal(a.Key.Marshal(), key.Marshal()) {
		return false
	}
	if identity != "" && !matchPatternList(identity, a.Principals) {
		return false
	}
	if a.Namespaces != "" && !matchPatternList(ns, a.Namespaces) {
		return false
	}
	if !a.ValidAfter.IsZero() && now.Before(a.ValidAfter) {
		return false
	}
	if !a.ValidBefore.IsZero() && now.After(a.ValidBefore) {
		return false
	}
	return true
}
